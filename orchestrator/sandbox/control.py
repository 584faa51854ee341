"""``/sandbox/`` JSON control routes (no auth; meant for loopback development use)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from google.protobuf import json_format
from google.protobuf.message import Message
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .config import apply_patch, as_dict
from .twirp import TwirpError

if TYPE_CHECKING:
    from .server import SandboxLiveKit


def _proto(msg: Message) -> dict[str, Any]:
    return json_format.MessageToDict(msg, preserving_proto_field_name=True)


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


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

    async def create_room(request: Request) -> Response:
        try:
            body = await _body(request)
            room = await sandbox.create_room(str(body["name"]), str(body.get("metadata", "")))
        except (ValueError, KeyError) as exc:
            return _error(400, f"bad request: {exc}")
        except TwirpError as exc:
            return _error(exc.status, exc.msg)
        return JSONResponse(_proto(room), status_code=201)

    async def delete_room(request: Request) -> Response:
        try:
            await sandbox.close_room(request.path_params["name"])
        except TwirpError as exc:
            return _error(exc.status, exc.msg)
        return Response(status_code=204)

    async def join(request: Request) -> Response:
        try:
            body = await _body(request)
            publish = body.get("publish", ["camera", "microphone"])
            if not isinstance(publish, list):
                raise ValueError("publish must be a list")
            info = await sandbox.join(
                request.path_params["name"],
                str(body["identity"]),
                kind=str(body.get("kind", "standard")),
                name=str(body.get("name", "")),
                metadata=str(body.get("metadata", "")),
                publish=[str(p) for p in publish],
            )
        except (ValueError, KeyError) as exc:
            return _error(400, f"bad request: {exc}")
        except TwirpError as exc:
            return _error(exc.status, exc.msg)
        return JSONResponse(_proto(info), status_code=201)

    async def leave(request: Request) -> Response:
        try:
            await sandbox.leave(request.path_params["name"], request.path_params["identity"])
        except TwirpError as exc:
            return _error(exc.status, exc.msg)
        return Response(status_code=204)

    async def get_faults(request: Request) -> Response:
        return JSONResponse(as_dict(sandbox.faults))

    async def patch_faults(request: Request) -> Response:
        try:
            apply_patch(sandbox.faults, await _body(request))
        except ValueError as exc:
            return _error(400, str(exc))
        sandbox.reevaluate()
        return JSONResponse(as_dict(sandbox.faults))

    async def list_egresses(request: Request) -> Response:
        return JSONResponse([_proto(info) for info in sandbox.egresses()])

    return [
        Route("/sandbox", summary, methods=["GET"]),
        Route("/sandbox/rooms", create_room, methods=["POST"]),
        Route("/sandbox/rooms/{name}", delete_room, methods=["DELETE"]),
        Route("/sandbox/rooms/{name}/participants", join, methods=["POST"]),
        Route("/sandbox/rooms/{name}/participants/{identity}", leave, methods=["DELETE"]),
        Route("/sandbox/faults", get_faults, methods=["GET"]),
        Route("/sandbox/faults", patch_faults, methods=["PATCH"]),
        Route("/sandbox/egresses", list_egresses, methods=["GET"]),
    ]
