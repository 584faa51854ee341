"""One table mapping the domain's errors to HTTP, with the `{"error": {"code", "message"}}` body."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from orchestrator.domain.errors import (
    Conflict,
    InvalidInput,
    LiveKitRejected,
    LiveKitUnavailable,
    NotFound,
    OrchestratorError,
    StorageUnavailable,
)
from orchestrator.domain.redact import redact_text
from orchestrator.logs import SECRETS

from .json_body import json_position

STATUS: list[tuple[type[OrchestratorError], int]] = [
    (InvalidInput, 422),
    (NotFound, 404),
    (Conflict, 409),
    (LiveKitRejected, 502),
    (LiveKitUnavailable, 503),
    (StorageUnavailable, 503),
]


def error_response(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, field), status_code=status)


def error_body(code: str, message: str, field: str | None = None) -> dict[str, object]:
    """Every error's JSON: {"error": {"code", "message" (secrets redacted), "field"?}}."""
    body: dict[str, object] = {"code": code, "message": redact_text(message, SECRETS.secrets)}
    if field:
        body["field"] = field
    return {"error": body}


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OrchestratorError)
    status = next((s for cls, s in STATUS if isinstance(exc, cls)), 500)
    return error_response(status, exc.code, exc.message, getattr(exc, "field", None))


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    if first.get("type") == "json_invalid":
        return _malformed_json(exc.body, first)
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    # The discriminated union adds the tag name to the path: drop it so the field reads outputs.0.url.
    loc = [p for p in loc if p not in ("s3", "hls", "rtmp", "mux", "images")]
    field = ".".join(loc) or "body"
    # Never echo the input back: it may hold a stream key.
    return error_response(422, "invalid_input", f"{field}: {first.get('msg', 'invalid')}", field)


def _malformed_json(doc: object, error: dict[str, object]) -> JSONResponse:
    """422 naming `body` with the line and column where the JSON stopped making sense (never the input)."""
    loc = error.get("loc") or ()
    pos = loc[-1] if isinstance(loc, tuple) and loc and isinstance(loc[-1], int) else 0
    text = doc.decode("utf-8", "replace") if isinstance(doc, bytes) else doc if isinstance(doc, str) else ""
    line, column = json_position(text, pos)
    ctx = error.get("ctx")
    reason = str(ctx.get("error", "")) if isinstance(ctx, dict) else ""
    message = f"body: not valid JSON at line {line}, column {column}" + (f": {reason}" if reason else "")
    return error_response(422, "invalid_input", message, "body")


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}
    response = error_response(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def install(app: FastAPI) -> None:
    app.add_exception_handler(OrchestratorError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
