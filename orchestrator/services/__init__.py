"""Use cases: start, stop and follow egresses; ingest webhooks; reconcile with LiveKit."""
