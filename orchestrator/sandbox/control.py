"""``/sandbox/`` JSON control routes (no auth; meant for loopback development use)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from google.protobuf import json_format
from google.protobuf.message import Message
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .config import apply_patch, as_dict
from .twirp import TwirpError

if TYPE_CHECKING:
    from .server import SandboxLiveKit


def _proto(msg: Message) -> dict[str, Any]:
    return json_format.MessageToDict(msg, preserving_proto_field_name=True)


class BadRequest(ValueError):
    """A control request a person must fix; `field` names what (the 400 says so)."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def _error(status: int, code: str, message: str, field: str = "") -> Response:
    """Every control error as the service answers its own: ``{"error": {"code", "message", "field"?}}``."""
    error: dict[str, str] = {"code": code, "message": message}
    if field:
        error["field"] = field
    return JSONResponse({"error": error}, status_code=status)


def _bad(exc: ValueError) -> Response:
    return _error(400, "bad_request", str(exc), getattr(exc, "field", ""))


def _twirp(exc: TwirpError) -> Response:
    return _error(exc.status, exc.code, exc.msg)


async def _http_error(request: Request, exc: Exception) -> Response:
    """404 and 405 (and any other HTTP error of the routing) as JSON, with the methods a path allows."""
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    detail = exc.detail
    if exc.status_code == 404:
        detail = f"no such sandbox path: {request.url.path} (see GET /sandbox)"
    elif exc.status_code == 405 and exc.headers and exc.headers.get("Allow"):
        detail = f"{request.method} is not allowed on {request.url.path}; allowed: {exc.headers['Allow']}"
    response = _error(exc.status_code, codes.get(exc.status_code, "http_error"), str(detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


EXCEPTION_HANDLERS: dict[Any, Any] = {HTTPException: _http_error}


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"body: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
                         "body") from None
    except UnicodeDecodeError:
        raise BadRequest("body: not UTF-8 text", "body") from None
    if not isinstance(data, dict):
        raise BadRequest("body: must be a JSON object", "body")
    return data


def _text(body: dict[str, Any], name: str, *, required: bool = False) -> str:
    if required and name not in body:
        raise BadRequest(f"{name}: required (a non-empty string)", name)
    value = body.get(name, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise BadRequest(f"{name}: must be a {'non-empty ' if required else ''}string", name)
    return value


Endpoint = Callable[[Request], Awaitable[Response]]


def _route(path: str, **by_method: Endpoint) -> Route:
    """One route per path, so that a 405 lists every method the path allows."""

    async def endpoint(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await by_method[method](request)

    return Route(path, endpoint, methods=list(by_method))


def routes(sandbox: SandboxLiveKit) -> list[Route]:
    """Routes bound to one sandbox."""

    async def summary(request: Request) -> Response:
        return JSONResponse(
            {
                "rooms": {
                    name: {
                        "room": _proto(state.snapshot()),
                        "participants": [_proto(p) for p in state.participants.values()],
                    }
                    for name, state in sandbox.rooms.rooms.items()
                },
                "egresses": [_proto(info) for info in sandbox.egresses()],
                "faults": as_dict(sandbox.faults),
                "timings": as_dict(sandbox.timings),
                "webhook_urls": sandbox.webhook_urls,
                "webhooks_sent": len(sandbox.sent_webhooks),
            }
        )

    async def list_rooms(request: Request) -> Response:
        return JSONResponse([_proto(state.snapshot()) for state in sandbox.rooms.rooms.values()])

    async def create_room(request: Request) -> Response:
        try:
            body = await _body(request)
            room = await sandbox.create_room(_text(body, "name", required=True), _text(body, "metadata"))
        except ValueError as exc:
            return _bad(exc)
        except TwirpError as exc:
            return _twirp(exc)
        return JSONResponse(_proto(room), status_code=201)

    async def delete_room(request: Request) -> Response:
        try:
            await sandbox.close_room(request.path_params["name"])
        except TwirpError as exc:
            return _twirp(exc)
        return Response(status_code=204)

    async def join(request: Request) -> Response:
        try:
            body = await _body(request)
            publish = body.get("publish", ["camera", "microphone"])
            if not isinstance(publish, list) or not all(isinstance(p, str) for p in publish):
                raise BadRequest("publish: must be a list of sources (camera, microphone, screen_share...)",
                                 "publish")
            info = await sandbox.join(
                request.path_params["name"],
                _text(body, "identity", required=True),
                kind=_text(body, "kind") or "standard",
                name=_text(body, "name"),
                metadata=_text(body, "metadata"),
                publish=publish,
            )
        except ValueError as exc:
            return _bad(exc)
        except TwirpError as exc:
            return _twirp(exc)
        return JSONResponse(_proto(info), status_code=201)

    async def leave(request: Request) -> Response:
        try:
            await sandbox.leave(request.path_params["name"], request.path_params["identity"])
        except TwirpError as exc:
            return _twirp(exc)
        return Response(status_code=204)

    async def get_faults(request: Request) -> Response:
        return JSONResponse(as_dict(sandbox.faults))

    async def patch_faults(request: Request) -> Response:
        try:
            apply_patch(sandbox.faults, await _body(request))
        except ValueError as exc:
            return _bad(exc)
        sandbox.reevaluate()
        return JSONResponse(as_dict(sandbox.faults))

    async def list_egresses(request: Request) -> Response:
        return JSONResponse([_proto(info) for info in sandbox.egresses()])

    return [
        _route("/sandbox", GET=summary),
        _route("/sandbox/rooms", GET=list_rooms, POST=create_room),
        _route("/sandbox/rooms/{name}", DELETE=delete_room),
        _route("/sandbox/rooms/{name}/participants", POST=join),
        _route("/sandbox/rooms/{name}/participants/{identity}", DELETE=leave),
        _route("/sandbox/faults", GET=get_faults, PATCH=patch_faults),
        _route("/sandbox/egresses", GET=list_egresses),
    ]
