"""Who is asking, and may they: session cookies, CSRF tokens, the login rate limit, and the
headers every response carries.

- The session cookie holds only a random token (the store keeps its hash): HttpOnly,
  SameSite=Strict, Secure when served over https.
- Every form carries the session's CSRF token; every POST is checked (a constant-time compare).
  The login form, which has no session yet, uses a double-submit token in its own cookie.
- A page without a session redirects to the login page; a POST without one is refused (403).
- Logs carry ids and actions only: the access log below writes the method, the path (ids only,
  never names or dates: the app's URLs are built that way) and the status, never the query.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from linkage.review.store import Session, Store

log = logging.getLogger("linkage.review")
access_log = logging.getLogger("linkage.review.access")

SESSION_COOKIE = "lk_session"
LOGIN_COOKIE = "lk_login"  # the login form's double-submit CSRF token
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]


class SecurityHeaders:
    """Pure ASGI middleware: the security headers on every response (pages, static files, errors),
    a Server-Timing header, and one access-log line with ids and status only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 0}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                names = {k.lower() for k, _ in message.get("headers", [])}
                headers = list(message.get("headers", []))
                headers += [(k, v) for k, v in HEADERS if k not in names]
                ms = (time.perf_counter() - start) * 1000
                headers.append((b"server-timing", f"app;dur={ms:.1f}".encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
        access_log.info("%s %s %s %.1fms", scope.get("method"), scope.get("path"), status["code"],
                        (time.perf_counter() - start) * 1000)


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, token: str, hours: float) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=int(hours * 3600), httponly=True, samesite="strict",
                        secure=secure(request), path="/")


def current_session(request: Request, store: Store) -> Session | None:
    token = request.cookies.get(SESSION_COOKIE)
    return store.session(token) if token else None


def csrf_ok(expected: str | None, given: object) -> bool:
    return bool(expected) and isinstance(given, str) and hmac.compare_digest(expected.encode(), given.encode())


Handler = Callable[[Request, Session], Awaitable[Response]]


def page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A GET page: needs a session, else a redirect to the login page."""

    async def endpoint(request: Request) -> Response:
        store: Store = request.app.state.store
        sess = await run_in_threadpool(current_session, request, store)
        if sess is None:
            return RedirectResponse("/login", status_code=303)
        request.state.session = sess
        return await handler(request, sess)

    endpoint.__name__ = handler.__name__
    return endpoint


def action(handler: Callable[[Request, Session, Any], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """A POST: needs a session and the session's CSRF token in the form, else 403."""

    async def endpoint(request: Request) -> Response:
        store: Store = request.app.state.store
        sess = await run_in_threadpool(current_session, request, store)
        if sess is None:
            return PlainTextResponse("403: not logged in", status_code=403)
        form = await request.form()
        if not csrf_ok(sess.csrf, form.get("csrf")):
            log.info("refused POST %s: bad csrf token user=%s", request.url.path, sess.user)
            return PlainTextResponse("403: invalid form token; reload the page", status_code=403)
        request.state.session = sess
        return await handler(request, sess, form)

    endpoint.__name__ = handler.__name__
    return endpoint


def new_login_token() -> str:
    return secrets.token_urlsafe(24)


def remote_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def rate_limited(store: Store, name: str, remote: str) -> bool:
    """True when this name or this address failed too often in the window: the attempt is then
    slowed by login.slow_seconds and refused without checking the password."""
    import asyncio

    rules = store.rules.login
    failures = await run_in_threadpool(store.recent_failures, name, remote)
    if failures >= rules.max_failures:
        await asyncio.sleep(rules.slow_seconds)
        return True
    return False
