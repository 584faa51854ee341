"""`/v1` bodies are JSON: one sent without a JSON `Content-Type` (curl's `-d` says form) is read as JSON."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

_JSON = b"application/json"
# What a JSON body arrives as when the client did not say: nothing, or curl -d's default.
_UNSAID = (b"", b"application/x-www-form-urlencoded")


class JsonBodies:
    """ASGI middleware: a `/v1` request whose body is not declared JSON is declared JSON (the API takes
    nothing else, so a body that is not JSON gets the usual 422 naming `body` with its line and column)."""

    def __init__(self, app: ASGIApp, prefix: str = "/v1/") -> None:
        self.app, self._prefix = app, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self._prefix):
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            declared = next((v for k, v in scope["headers"] if k == b"content-type"), b"")
            if declared.split(b";", 1)[0].strip().lower() in _UNSAID:
                scope = dict(scope, headers=[*headers, (b"content-type", _JSON)])
        await self.app(scope, receive, send)


def json_position(doc: str, pos: int) -> tuple[int, int]:
    """Line and column (both from 1) of a character offset, as a person counts them in an editor."""
    pos = max(0, min(pos, len(doc)))
    line = doc.count("\n", 0, pos) + 1
    return line, pos - (doc.rfind("\n", 0, pos) + 1) + 1
