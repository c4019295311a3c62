"""Who may use a network service (``trm serve``, ``trm mcp --transport http``): API keys, CORS origins and a
per-client request-rate limit, declared once in :class:`Access` and enforced by :class:`AccessMiddleware`, a
plain ASGI middleware in front of the whole app (FastAPI or the MCP SDK's Starlette app).

In order, for every HTTP request:

1. **rate limit**: a token bucket per client address (and per key once the key is valid): ``rate`` requests per
   second, bursts of ``burst``; beyond, 429 with ``Retry-After``. Requests with a wrong key spend their
   address's tokens, so guessing keys is as slow as the limit;
2. **CORS preflight** (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``): answered 204 with the
   allow headers for a listed origin, 403 for any other (no origin is listed by default: browsers on other
   sites cannot call the service);
3. **API key**: with keys set, every path but ``/healthz`` needs ``Authorization: Bearer KEY`` or
   ``X-API-Key: KEY`` (compared with :func:`hmac.compare_digest`); else 401 with a JSON body.

Answers of the middleware are JSON ``{"detail": ...}`` like every error of the service.
"""

from __future__ import annotations

import dataclasses
import hmac
import ipaddress
import json
import math
import os
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from ..typed import check_flag_bounds, num_text
from ..utils import TRMError

KEY_ENV = "TRM_API_KEY"
OPEN_PATHS = ("/healthz",)  # liveness for load balancers and supervisors: no key needed, no model data
MAX_TRACKED_CLIENTS = 10_000  # rate-limit buckets kept; the least recently seen is forgotten beyond
CORS_METHODS = "GET, POST, DELETE, OPTIONS"
CORS_HEADERS = (
    "authorization",
    "x-api-key",
    "content-type",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
)
MIN_KEY_LENGTH = 16


@dataclass
class Access:
    """Access control of one service; every option's help and bounds, declared once (the ``trm serve`` and
    ``trm mcp`` flags are generated from it)."""

    api_keys: tuple[str, ...] = field(
        default=(),
        metadata={"help": f"API key clients must send (Authorization: Bearer KEY or X-API-Key: KEY); repeat for "
                  f"several; default: the environment variable {KEY_ENV}; none: no key needed (loopback only)",
                  "flag": "--api-key"},
    )  # fmt: skip
    cors_origins: tuple[str, ...] = field(
        default=(),
        metadata={"help": "origin allowed to call from a browser (scheme://host[:port]); repeat for several; "
                  "default: none (CORS closed)", "flag": "--cors-origin"},
    )  # fmt: skip
    rate: float = field(
        default=50.0,
        metadata={"help": "requests per second per client address (token bucket; 0 = no limit)", "min": 0.0,
                  "max": 1e6, "flag": "--rate-limit"},
    )  # fmt: skip
    burst: int = field(
        default=100,
        metadata={"help": "requests a client may send at once before the rate applies", "min": 1, "max": 10**6,
                  "flag": "--burst"},
    )  # fmt: skip
    insecure: bool = field(
        default=False,
        metadata={"help": "allow a non-loopback --host without an API key (anyone who can reach the port may "
                  "use the service)", "flag": "--insecure"},
    )  # fmt: skip

    def validate(self) -> Access:
        """Check every option; raise :class:`TRMError` with one line naming the flag."""
        check_flag_bounds(self)
        for key in self.api_keys:
            if (
                not isinstance(key, str)
                or len(key) < MIN_KEY_LENGTH
                or not key.isascii()
                or not key.isprintable()
            ):
                raise TRMError(
                    f"an API key must be at least {MIN_KEY_LENGTH} printable ASCII characters "
                    "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
                )
        for origin in self.cors_origins:
            if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+", origin or ""):
                raise TRMError(f"--cors-origin must look like https://example.org[:port], got {origin!r}")
        return self

    def check_bind(self, host: str) -> None:
        """Refuse to listen on a non-loopback address without a key unless ``insecure``."""
        if not self.api_keys and not self.insecure and not is_loopback(host):
            raise TRMError(
                f"--host {host} is reachable from other machines: set an API key (--api-key or {KEY_ENV}) or "
                "pass --insecure to serve without one"
            )


@dataclass
class Listen:
    """Where a service listens and what runs its model; every option's help and bounds, declared once (the
    ``trm serve`` and ``trm mcp`` flags are generated from it, and :meth:`validate` checks them)."""

    host: str = field(default="127.0.0.1", metadata={"help": "interface to listen on", "flag": "--host"})
    port: int = field(default=8000, metadata={"help": "port", "flag": "--port", "min": 1, "max": 65535})
    device: str = field(
        default="auto",
        metadata={"help": "PyTorch device of a model folder: auto, cpu, cuda, cuda:N or mps", "flag": "--device"},
    )  # fmt: skip
    dtype: str = field(
        default="auto",
        metadata={"help": "PyTorch dtype of a model folder: auto = bfloat16 on CUDA, float32 elsewhere",
                  "flag": "--dtype", "choices": ("auto", "float32", "bfloat16", "float16")},
    )  # fmt: skip
    threads: int | None = field(
        default=None,
        metadata={"help": "intra-op threads of the model; unset: every core", "flag": "--threads", "min": 1,
                  "max": 4096},
    )  # fmt: skip

    def validate(self) -> Listen:
        """Check every option; raise :class:`TRMError` with one line naming the flag."""
        check_flag_bounds(self)
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise TRMError(f"--dtype must be auto, float32, bfloat16 or float16, got {self.dtype!r}")
        if not isinstance(self.host, str) or not self.host or any(c.isspace() for c in self.host):
            raise TRMError(f"--host must be an interface name or address, got {self.host!r}")
        return self


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (``localhost``, ``127.x``, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # any other name may resolve anywhere


def parse_rate(text: str) -> float:
    """``--rate-limit`` as ``N``, ``N/s`` or ``N/min`` -> requests per second."""
    m = re.fullmatch(r"\s*([0-9.eE+]+)\s*(?:/\s*(s|sec|second|m|min|minute))?\s*", text)
    try:
        value = float(m.group(1)) if m else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise TRMError(f"--rate-limit must look like 20, 20/s or 600/min, got {text!r}")
    return value / 60.0 if m.group(2) in ("m", "min", "minute") else value


def add_arguments(p: Any) -> None:
    """The access flags of :class:`Access` (``trm serve``, ``trm mcp``)."""
    default = Access()
    for f in dataclasses.fields(Access):
        meta = f.metadata
        text = meta["help"] + (
            "" if f.type.startswith("tuple") or f.type == "bool" else f" (default {num_text(f.default)})"
        )
        if f.type == "bool":
            p.add_argument(meta["flag"], dest=f.name, action="store_true", help=text)
        elif f.type.startswith("tuple"):
            p.add_argument(meta["flag"], dest=f.name, action="append", default=None, metavar=f.name[:-1].upper(),
                           help=text)  # fmt: skip
        else:
            p.add_argument(meta["flag"], dest=f.name, default=getattr(default, f.name), type=str,
                           metavar="N/s" if f.name == "rate" else "N", help=text)  # fmt: skip


def from_arguments(args: Any, env: dict[str, str] | None = None) -> Access:
    """The :class:`Access` the flags of :func:`add_arguments` ask for (the key from ``TRM_API_KEY`` when no
    ``--api-key`` is given), validated."""
    env = os.environ if env is None else env
    keys = tuple(args.api_keys or ()) or tuple(k for k in (env.get(KEY_ENV, "").strip(),) if k)
    burst = str(args.burst).strip()
    if not re.fullmatch(r"[+]?[0-9]{1,12}", burst):
        raise TRMError(f"--burst must be an integer, got {args.burst!r}")
    rate = args.rate if isinstance(args.rate, (int, float)) else parse_rate(str(args.rate))
    access = Access(keys, tuple(args.cors_origins or ()), float(rate), int(burst), bool(args.insecure))
    return access.validate()


class _Buckets:
    """Token buckets by client, the least recently seen forgotten beyond :data:`MAX_TRACKED_CLIENTS`."""

    def __init__(self, rate: float, burst: int):
        self.rate, self.burst = rate, burst
        self.buckets: OrderedDict[Any, tuple[float, float]] = OrderedDict()

    def take(self, who: Any, now: float | None = None) -> float:
        """0 if ``who`` may go now (a token is spent), else the seconds until it may."""
        now = time.monotonic() if now is None else now
        tokens, last = self.buckets.pop(who, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate
        self.buckets[who] = (tokens - 1.0 if wait == 0.0 else tokens, now)
        while len(self.buckets) > MAX_TRACKED_CLIENTS:
            self.buckets.popitem(last=False)
        return wait


class AccessMiddleware:
    """ASGI middleware enforcing :class:`Access` (see the module docstring)."""

    def __init__(self, app: Any, access: Access):
        self.app, self.access = app, access
        self.keys = [k.encode() for k in access.api_keys]
        self.origins = set(access.cors_origins)
        self.buckets = _Buckets(access.rate, access.burst) if access.rate > 0 else None
        self.counts = {"unauthorized": 0, "rate_limited": 0, "cors_refused": 0}

    def _key_index(self, headers: dict[bytes, bytes]) -> int | None:
        """Which configured key the request carries (every key is compared, in constant time each)."""
        given = headers.get(b"x-api-key")
        auth = headers.get(b"authorization", b"")
        if given is None and auth[:7].lower() == b"bearer ":
            given = auth[7:].strip()
        if given is None:
            return None
        found = None
        for i, key in enumerate(self.keys):
            if hmac.compare_digest(given, key) and found is None:
                found = i
        return found

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and self.keys:  # no route takes one; refused unless the key is valid
            headers = {k.lower(): v for k, v in scope.get("headers") or ()}
            if self._key_index(headers) is None:
                return await send({"type": "websocket.close", "code": 1008})
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {}
        for k, v in scope.get("headers") or ():
            headers.setdefault(k.lower(), v)
        origin = headers.get(b"origin", b"").decode("latin-1")
        allowed = origin if origin in self.origins else None
        client = (scope.get("client") or ("unknown", 0))[0]
        key = self._key_index(headers) if self.keys else None

        async def answer(status: int, detail: str, extra: list[tuple[bytes, bytes]] = ()) -> None:
            body = json.dumps({"detail": detail}).encode()
            out = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *extra,
            ]
            if allowed:
                out += [(b"access-control-allow-origin", allowed.encode()), (b"vary", b"Origin")]
            await send({"type": "http.response.start", "status": status, "headers": out})
            await send({"type": "http.response.body", "body": body})

        if self.buckets is not None:
            wait = self.buckets.take((client, key))
            if wait > 0:
                self.counts["rate_limited"] += 1
                retry = str(max(1, math.ceil(wait)))
                return await answer(
                    429, f"too many requests; retry in {retry} s", [(b"retry-after", retry.encode())]
                )
        if scope["method"] == "OPTIONS" and origin and b"access-control-request-method" in headers:
            if not allowed:
                self.counts["cors_refused"] += 1
                return await answer(403, f"origin {origin!r} is not allowed (trm serve --cors-origin)")
            asked = headers.get(b"access-control-request-headers", b"").decode("latin-1").lower()
            refused = [h for h in (s.strip() for s in asked.split(",")) if h and h not in CORS_HEADERS]
            if refused:
                self.counts["cors_refused"] += 1
                return await answer(403, f"request header(s) {refused} are not allowed")
            out = [
                (b"access-control-allow-origin", allowed.encode()),
                (b"access-control-allow-methods", CORS_METHODS.encode()),
                (b"access-control-allow-headers", ", ".join(CORS_HEADERS).encode()),
                (b"access-control-max-age", b"600"),
                (b"vary", b"Origin"),
                (b"content-length", b"0"),
            ]
            await send({"type": "http.response.start", "status": 204, "headers": out})
            return await send({"type": "http.response.body", "body": b""})
        if self.keys and key is None and scope.get("path") not in OPEN_PATHS:
            self.counts["unauthorized"] += 1
            why = (
                "a wrong API key" if b"x-api-key" in headers or b"authorization" in headers else "no API key"
            )
            return await answer(
                401,
                f"{why}: send Authorization: Bearer KEY or X-API-Key: KEY",
                [(b"www-authenticate", b'Bearer realm="trm"')],
            )
        if not allowed:
            return await self.app(scope, receive, send)

        async def send_with_cors(message):
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": [
                        *[
                            (k, v)
                            for k, v in message.get("headers", [])
                            if k.lower() != b"access-control-allow-origin"
                        ],
                        (b"access-control-allow-origin", allowed.encode()),
                        (b"access-control-expose-headers", b"retry-after, mcp-session-id"),
                        (b"vary", b"Origin"),
                    ],
                }
            await send(message)

        return await self.app(scope, receive, send_with_cors)
