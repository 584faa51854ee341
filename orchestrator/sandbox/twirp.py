"""Twirp HTTP layer: routing, content types, error bodies and LiveKit's auth middleware."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jwt
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from jwt.warnings import InsecureKeyLengthWarning
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

logger = logging.getLogger(__name__)

HTTP_STATUS: dict[str, int] = {
    "canceled": 408,
    "unknown": 500,
    "invalid_argument": 400,
    "malformed": 400,
    "deadline_exceeded": 408,
    "not_found": 404,
    "bad_route": 404,
    "already_exists": 409,
    "permission_denied": 403,
    "unauthenticated": 401,
    "resource_exhausted": 429,
    "failed_precondition": 412,
    "aborted": 409,
    "out_of_range": 400,
    "unimplemented": 501,
    "internal": 500,
    "unavailable": 503,
    "dataloss": 500,
}

LEEWAY_SECONDS = 60.0


class TwirpError(Exception):
    """A Twirp error answered as ``{"code","msg","meta"}`` with the code's HTTP status."""

    def __init__(self, code: str, msg: str, meta: dict[str, str] | None = None) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.meta = meta or {}

    @property
    def status(self) -> int:
        return HTTP_STATUS[self.code]

    def response(self) -> Response:
        body: dict[str, Any] = {"code": self.code, "msg": self.msg}
        if self.meta:
            body["meta"] = self.meta
        return JSONResponse(body, status_code=self.status)


def permission_denied() -> TwirpError:
    return TwirpError("unauthenticated", "permissions denied")


def invalid_field(field: str) -> TwirpError:
    return TwirpError("invalid_argument", f"request has missing or invalid field: {field}")


@dataclass(frozen=True)
class Grants:
    """The ``video`` grant of a verified token; ``None`` claims mean no Authorization header."""

    claims: dict[str, Any] | None

    def _video(self) -> dict[str, Any]:
        if self.claims is None:
            raise permission_denied()
        video = self.claims.get("video")
        return video if isinstance(video, dict) else {}

    def require(self, grant: str) -> None:
        if not self._video().get(grant):
            raise permission_denied()

    def require_room_admin(self, room: str) -> None:
        video = self._video()
        if not video.get("roomAdmin") or video.get("room", "") != room:
            raise permission_denied()


class AuthFailure(Exception):
    """The auth middleware rejected the request with a plain-text 401."""


def authenticate(request: Request, api_key: str, api_secret: str) -> Grants:
    """Mirror LiveKit's auth middleware: no header passes without grants, bad headers are 401 text."""
    header = request.headers.get("authorization", "")
    if not header:
        return Grants(None)
    if not header.startswith("Bearer "):
        raise AuthFailure("invalid authorization header. Must start with Bearer ")
    token = header[len("Bearer ") :]
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise AuthFailure("invalid authorization token") from exc
    if unverified.get("iss") != api_key:
        raise AuthFailure("invalid API key")
    try:
        with warnings.catch_warnings():
            # The sandbox does not pick the secret; LiveKit's dev pair ("secret") is short.
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)
            claims = jwt.decode(
                token, api_secret, algorithms=["HS256"], leeway=LEEWAY_SECONDS, options={"verify_aud": False}
            )
    except jwt.PyJWTError as exc:
        raise AuthFailure(f"invalid authorization token: {exc}") from exc
    return Grants(claims)


Handler = Callable[[Any, Grants], Awaitable[Message]]


@dataclass(frozen=True)
class Method:
    """One Twirp method: its request class and async handler."""

    request_cls: type[Message]
    handler: Handler


@dataclass(frozen=True)
class Codec:
    """Request decoding and response encoding for one content type."""

    json: bool

    def decode(self, body: bytes, cls: type[Message]) -> Message:
        msg = cls()
        try:
            if self.json:
                json_format.Parse(body.decode() or "{}", msg, ignore_unknown_fields=True)
            else:
                msg.ParseFromString(body)
        except (json_format.ParseError, DecodeError, UnicodeDecodeError, ValueError) as exc:
            text = "the json request could not be decoded" if self.json else "failed to parse request proto"
            raise TwirpError("malformed", text) from exc
        return msg

    def encode(self, msg: Message) -> Response:
        if self.json:
            text = json_format.MessageToJson(
                msg,
                preserving_proto_field_name=True,
                always_print_fields_with_no_presence=True,
                indent=None,
            )
            return Response(text, media_type="application/json")
        return Response(msg.SerializeToString(), media_type="application/protobuf")


def _bad_route(msg: str, method: str, path: str) -> TwirpError:
    return TwirpError("bad_route", msg, {"twirp_invalid_route": f"{method} {path}"})


async def serve(
    request: Request, services: dict[str, dict[str, Method]], api_key: str, api_secret: str
) -> Response:
    """Handle one request under ``/twirp/``: auth, route, decode, call, encode."""
    path = request.url.path
    try:
        grants = authenticate(request, api_key, api_secret)
    except AuthFailure as exc:
        return PlainTextResponse(str(exc), status_code=401)
    try:
        if request.method != "POST":
            raise _bad_route(
                f"unsupported method {json.dumps(request.method)} (only POST is allowed)",
                request.method,
                path,
            )
        prefix, _, method_name = path.rpartition("/")
        service = services.get(prefix.removeprefix("/twirp/"))
        method = service.get(method_name) if service else None
        if method is None:
            raise _bad_route(f"no handler for path {json.dumps(path)}", request.method, path)
        raw_type = request.headers.get("content-type", "")
        kind = raw_type.split(";", 1)[0].strip().lower()
        if kind not in ("application/json", "application/protobuf"):
            raise _bad_route(f"unexpected Content-Type: {json.dumps(raw_type)}", request.method, path)
        codec = Codec(json=kind == "application/json")
        message = codec.decode(await request.body(), method.request_cls)
        reply = await method.handler(message, grants)
        return codec.encode(reply)
    except TwirpError as exc:
        return exc.response()
