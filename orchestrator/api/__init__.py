"""The REST API: FastAPI app factory, schemas, routes and the webhook endpoint."""
