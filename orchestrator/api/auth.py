"""Who is calling, and may they: the bearer token or API key of an API client, the session of a person.

Routes declare the role they need with `Depends(require(Role.X))` (or the `ViewerDep`/`ProducerDep`/`AdminDep`
shorthands, which also hand the route the `Principal` whose name history rows record as the actor).

Cross-site requests: console forms carry `csrf_token`, an HMAC of the session cookie (or, before sign-in, of a
random `eo_csrf` cookie: double submit) under a key derived from the service's token, so `check_csrf` needs no
database read; it also refuses a request whose Origin (or Sec-Fetch-Site) says it came from another site. The
API accepts the session cookie for unsafe methods only from the same origin.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from orchestrator.api.deps import ContainerDep
from orchestrator.bootstrap import Container
from orchestrator.domain.identity import BOOTSTRAP_TOKEN, KEY_PREFIX, Principal, Role

_bearer = HTTPBearer(auto_error=False, description="ORCHESTRATOR_API_TOKEN or an API key (eo_...)")

SESSION_COOKIE = "eo_session"
PRE_SESSION_COOKIE = "eo_csrf"  # the sign-in form's double-submit cookie (no session yet)
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_CROSS_SITE = "this form is not from this site (cross-site request refused)"


async def principal(
    request: Request, c: ContainerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller (bootstrap token, API key, or console session cookie), or 401."""
    if credentials is not None:
        given = credentials.credentials
        if secrets.compare_digest(given.encode(), c.api_token.encode()):
            return BOOTSTRAP_TOKEN
        if given.startswith(KEY_PREFIX) and (who := await c.identity.key_caller(given)) is not None:
            return who
        raise _unauthorized()
    who = await session_principal(request, c)
    if who is None:
        raise _unauthorized()
    if request.method in UNSAFE and not same_origin(request, c):
        raise HTTPException(403, "a cross-site request may not use the console's session (send a token instead)")
    return who


def _unauthorized() -> HTTPException:
    return HTTPException(401, "a valid 'Authorization: Bearer <token>' header is required",
                         headers={"WWW-Authenticate": "Bearer"})


PrincipalDep = Annotated[Principal, Depends(principal)]


def require(needed: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency: the caller, when its role allows `needed`; 403 otherwise."""

    async def check(who: PrincipalDep) -> Principal:
        if not who.allows(needed):
            raise HTTPException(403, f"this needs the {needed.value} role; {who.name} is {who.role.value}")
        return who

    return check


ViewerDep = Annotated[Principal, Depends(require(Role.VIEWER))]
ProducerDep = Annotated[Principal, Depends(require(Role.PRODUCER))]
AdminDep = Annotated[Principal, Depends(require(Role.ADMIN))]


async def session_principal(request: Request, c: ContainerDep) -> Principal | None:
    """The person whose console session cookie this request carries, if it is valid and unexpired."""
    if hasattr(request.state, "principal"):  # already read for this request
        who: Principal | None = request.state.principal
        return who
    token = request.cookies.get(SESSION_COOKIE)
    who = await c.identity.session_caller(token) if token and len(token) <= 128 else None
    request.state.principal = who
    return who


def _key(c: Container) -> bytes:
    return hashlib.sha256(b"console-csrf:" + c.api_token.encode()).digest()


def csrf_token(request: Request) -> str:
    """The cross-site request token forms of this session carry (hidden field `csrf_token`). Before sign-in
    it is bound to the `eo_csrf` cookie, which `set_pre_session_cookie` puts on the sign-in page's answer."""
    c: Container = request.app.state.container
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        return _mac(c, "session", session)
    pre = request.cookies.get(PRE_SESSION_COOKIE) or getattr(request.state, "pre_session", None)
    if not pre:
        pre = request.state.pre_session = secrets.token_urlsafe(32)
    return _mac(c, "pre", pre)


def _mac(c: Container, kind: str, value: str) -> str:
    return hmac.new(_key(c), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def set_pre_session_cookie(request: Request, response: Response) -> None:
    """Give the browser the cookie the sign-in form's token is bound to (when `csrf_token` just made one)."""
    pre = getattr(request.state, "pre_session", None)
    if pre and not request.cookies.get(PRE_SESSION_COOKIE):
        response.set_cookie(PRE_SESSION_COOKIE, pre, httponly=True, samesite="lax", path="/",
                            secure=secure_cookies(request))


def check_csrf(request: Request, token: str) -> None:
    """403 unless `token` is this session's and the request comes from this site."""
    c: Container = request.app.state.container
    session = request.cookies.get(SESSION_COOKIE)
    pre = request.cookies.get(PRE_SESSION_COOKIE)
    expected = [_mac(c, "session", session)] if session else []
    if pre:
        expected.append(_mac(c, "pre", pre))  # the sign-in form (a stale session cookie may still be there)
    if not same_origin(request, c) or not any(secrets.compare_digest(token.encode(), e.encode())
                                              for e in expected):
        raise HTTPException(403, _CROSS_SITE)


def same_origin(request: Request, c: Container) -> bool:
    """No sign of another site: Origin (when sent) is this service's, and Sec-Fetch-Site (when sent) is not
    cross-site. Browsers send at least one of them on every POST."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    if origin == "null":
        return False
    own = {f"{request.url.scheme}://{request.url.netloc}", _origin(c.settings.public_url)}
    return origin.rstrip("/") in own


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def secure_cookies(request: Request) -> bool:
    """Cookies are Secure when the request came over https or the service's public URL is https."""
    c: Container = request.app.state.container
    return request.url.scheme == "https" or c.settings.public_url.startswith("https://")


def start_session(request: Request, response: Response, token: str, max_age_s: int) -> None:
    """Set the session cookie (HttpOnly, SameSite=Lax, Path=/, Secure behind https) and drop the pre-session one."""
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age_s, httponly=True, samesite="lax", path="/",
                        secure=secure_cookies(request))
    response.delete_cookie(PRE_SESSION_COOKIE, path="/")


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
