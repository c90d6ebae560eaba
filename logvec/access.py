"""Who may read the HTTP API, and what every response carries.

The API answers with log contents, so it is closed unless told otherwise: a request to `/api/...` needs a bearer
token (`LOGVEC_API_TOKEN`, or a token file holding several, one `NAME:TOKEN` a line) or, behind an authenticating
proxy (oauth2-proxy and the like), the header the proxy sets with the user it authenticated. The probes
(`/healthz`, `/readyz`) and `/metrics` (counts, no log contents) stay open for the kubelet and Prometheus; the
page and the API docs hold no data and are open too, their requests to `/api` are not.

Every response but the probes' is refused unless its Host header is allowed (a DNS-rebinding page cannot read a
loopback server), and carries a Content-Security-Policy, no framing and no sniffing. Each request is one line in
the `logvec.access` log (who, method, path without the query: a query is a log line) and counted in
`logvec_http_requests_total` and `logvec_http_request_seconds` by route and status.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from logvec.metrics import HTTP_REQUEST_SECONDS, HTTP_REQUESTS

log = logging.getLogger("logvec.access")

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})  # probes and scrapes: no Host check, no token
MIN_TOKEN_LENGTH = 16
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")

_PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
             "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
# Swagger UI and ReDoc start from an inline script; ReDoc renders in a blob: worker
_DOCS_CSP = ("default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
             "connect-src 'self'; img-src 'self' data:; worker-src blob:; font-src 'self'; base-uri 'none'; "
             "frame-ancestors 'none'")
DOCS_PATHS = ("/docs", "/redoc")


class AccessError(ValueError):
    """Access settings that cannot be used (a token file that is missing or malformed, a short token)."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def read_tokens(env_token: str | None = None, token_file: str | Path | None = None) -> dict[str, str]:
    """Token digest -> the name it authenticates as. A token file holds one `NAME:TOKEN` (or a bare `TOKEN`,
    named token-N) a line; blank lines and `#` comments are skipped. Only digests are kept in memory."""
    tokens: dict[str, str] = {}
    found: list[tuple[str, str, str]] = []  # (name, token, where)
    if env_token:
        found.append(("env", env_token.strip(), "LOGVEC_API_TOKEN"))
    if token_file:
        path = Path(token_file)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise AccessError(f"token file {path}: {e.strerror or e}") from None
        for n, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, sep, token = line.partition(":")
            if not sep:
                name, token = f"token-{n}", name
            if not name.strip() or not re.fullmatch(r"[\w.@-]+", name.strip()):
                raise AccessError(f"{path}:{n}: a name is letters, digits, '.', '@', '_' or '-' (NAME:TOKEN)")
            found.append((name.strip(), token.strip(), f"{path}:{n}"))
    for name, token, where in found:
        if len(token) < MIN_TOKEN_LENGTH:
            raise AccessError(f"{where}: a token needs at least {MIN_TOKEN_LENGTH} characters "
                              f"(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
        tokens[_digest(token)] = name
    return tokens


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class AccessPolicy:
    """`tokens`: digest -> name; `proxy_header`: trust this header as the user (the proxy must set it on every
    request and drop it from clients'); `allowed_hosts`: Host names served (`*` any, `*.example.com` a domain);
    `open`: no authentication at all (loopback development, or `--insecure-no-auth`)."""

    tokens: dict[str, str] = field(default_factory=dict)
    proxy_header: str | None = None
    allowed_hosts: tuple[str, ...] = LOOPBACK_NAMES
    open: bool = False

    @classmethod
    def from_environment(cls, bind: str = "127.0.0.1", token_file: str | Path | None = None,
                         proxy_header: str | None = None, allowed_hosts: list[str] | tuple[str, ...] = (),
                         insecure_no_auth: bool = False) -> "AccessPolicy":
        """The policy `logvec serve` runs with. Raises AccessError when binding beyond loopback with no way to
        authenticate and no explicit `insecure_no_auth`."""
        tokens = read_tokens(os.environ.get("LOGVEC_API_TOKEN"),
                             token_file or os.environ.get("LOGVEC_API_TOKEN_FILE") or None)
        proxy_header = proxy_header or os.environ.get("LOGVEC_API_AUTH_HEADER") or None
        hosts = [h.strip() for h in (list(allowed_hosts) or os.environ.get("LOGVEC_API_ALLOWED_HOSTS", "").split(","))
                 if h.strip()]
        authenticated = bool(tokens or proxy_header)
        if not authenticated and not insecure_no_auth and not is_loopback(bind):
            raise AccessError(
                f"refusing to serve log contents on {bind} without authentication: set LOGVEC_API_TOKEN, "
                "--token-file or --auth-header, bind 127.0.0.1, or pass --insecure-no-auth")
        if not is_loopback(bind) and bind not in ("0.0.0.0", "::"):
            hosts.append(bind)
        if not hosts and bind in ("0.0.0.0", "::"):
            hosts = ["*"]  # no name given for a server bound everywhere: the names it is reached by are not known
        return cls(tokens=tokens, proxy_header=proxy_header, allowed_hosts=(*LOOPBACK_NAMES, *hosts),
                   open=not authenticated)

    def host_allowed(self, host: str) -> bool:
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host[1:].split("]", 1)[0]
        name = name.lower()
        for allowed in self.allowed_hosts:
            allowed = allowed.lower()
            if allowed == "*" or allowed == name or (allowed.startswith("*.") and name.endswith(allowed[1:])):
                return True
        return False

    def identify(self, request: Request, credentials: HTTPAuthorizationCredentials | None) -> str:
        """Who is asking, or HTTPException 401."""
        if self.open:
            return "anonymous"
        if credentials is not None and credentials.scheme.lower() == "bearer" and self.tokens:
            name = self.tokens.get(_digest(credentials.credentials))
            if name is not None:
                return name
            raise HTTPException(401, "the bearer token is not valid", headers={"WWW-Authenticate": "Bearer"})
        if self.proxy_header:
            user = request.headers.get(self.proxy_header)
            if user:
                return user
        ways = " or ".join(w for w, on in (("a bearer token (Authorization: Bearer TOKEN)", self.tokens),
                                            (f"the {self.proxy_header} header of the authenticating proxy",
                                             self.proxy_header)) if on)
        raise HTTPException(401, f"authentication required: {ways}", headers={"WWW-Authenticate": "Bearer"})


def require_identity(policy: AccessPolicy):
    """A FastAPI dependency: the caller's name (also kept on `request.state.identity` for the access log).
    Declares the bearer scheme in the OpenAPI document, so /docs has an Authorize button."""
    bearer = HTTPBearer(auto_error=False, description="LOGVEC_API_TOKEN or a token of the token file")

    def identity(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> str:
        who = policy.identify(request, credentials)
        request.state.identity = who
        return who

    return identity


class _BodyTooLarge(Exception):
    pass


class AccessMiddleware:
    """Host allow-list, a cap on request bodies, security headers, the access log and the request metrics, for
    every request."""

    def __init__(self, app: ASGIApp, policy: AccessPolicy, max_body: int = 1 << 20) -> None:
        self.app = app
        self.policy = policy
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        path: str = scope["path"]
        status = {"code": 500}
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        csp = _DOCS_CSP if path.startswith(DOCS_PATHS) else _PAGE_CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                extra = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                         (b"referrer-policy", b"no-referrer"), (b"content-security-policy", csp.encode())]
                if path.startswith("/api/"):
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        received = {"bytes": 0}

        async def receive_at_most(max_body: int = self.max_body) -> Message:
            message = await receive()
            received["bytes"] += len(message.get("body", b""))
            if received["bytes"] > max_body:
                raise _BodyTooLarge
            return message

        refusal: tuple[int, str] | None = None
        if path not in OPEN_PATHS and not self.policy.host_allowed(host):
            refusal = 400, f"Host {host!r} is not served here: add it with --allowed-host (LOGVEC_API_ALLOWED_HOSTS)"
        elif int(headers.get("content-length") or 0) > self.max_body:
            refusal = 413, f"the request body is over {self.max_body:,} bytes"
        try:
            if refusal is None:
                try:
                    await self.app(scope, receive_at_most, send_with_headers)
                except _BodyTooLarge:
                    refusal = 413, f"the request body is over {self.max_body:,} bytes"
            if refusal is not None:
                await JSONResponse({"detail": refusal[1]}, status_code=refusal[0])(scope, receive, send_with_headers)
        finally:
            seconds = time.perf_counter() - start
            route = scope.get("route")
            label = getattr(route, "path", None) or ("static" if path.startswith("/assets/") else "unmatched")
            HTTP_REQUESTS.labels(label, scope["method"], str(status["code"])).inc()
            HTTP_REQUEST_SECONDS.labels(label).observe(seconds)
            if path not in OPEN_PATHS:
                state = scope.get("state") or {}
                client = scope.get("client")
                log.info('%s %s "%s %s" %d %.1fms', client[0] if client else "-", state.get("identity", "-"),
                         scope["method"], path, status["code"], seconds * 1000)
