"""Request limits and input checks that run before any parsing, plus the uniform 4xx error body.

``RequestLimitsMiddleware`` is a plain ASGI middleware. For requests with a body (POST, PUT, PATCH) it:

1. rejects a declared ``Content-Length`` over the limit with 413 without reading the body;
2. reads the body, counting streamed bytes (chunked uploads have no Content-Length), and answers 413 as
   soon as the count passes the limit;
3. answers 400 when the body is not valid UTF-8, naming the byte offset, and drops a leading UTF-8 byte order
   mark (which Windows tools write and RFC 8259 lets a parser ignore);
4. answers 415 when the body is not sent as JSON (``text/plain``, forms, multipart, pickles, any media type
   but ``application/json`` and ``application/*+json``; no Content-Type at all is taken as JSON), or is
   compressed (a ``Content-Encoding`` other than ``identity``: it would read as invalid UTF-8);
5. replays the checked body to the application.

It also rewrites the application's own 400 validation answers (pydantic errors, which BentoML returns as
``{"error", "detail": [{"type", "loc", "msg"}]}``) into one documented shape, so every client error reads::

    {"error": "texts[2]: text is blank ...", "detail": [{"field": "texts[2]", "loc": ["texts", 2],
                                                       "type": "value_error", "msg": "..."}]}

where ``field`` is ``body`` when the problem is the request as a whole (invalid JSON, wrong top-level type).

Starlette's plain-text answers to an unknown path (404) and to a method a path does not answer (405) are
re-sent in the same shape, naming the service's endpoints (404) or the path's methods (405, also in ``Allow``).
``serving.schemas.ErrorResponse`` documents the shape in /docs.json.

Every 4xx answer is logged in one line by ``serving.logs.log_client_error`` (fields and rules, never the text).
"""
from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Collection, Mapping, MutableMapping
from typing import Any

from .logs import env_int, log_client_error

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_TEXTS = 64                   # articles per /classify request
MAX_TEXT_CHARS = 100_000         # characters (code points) per text; about 50 pages of Arabic prose
MAX_TITLE_CHARS = 2_000          # characters per title
MAX_TOP_K = 50                   # /explain evidence items per list
# 64 texts of 100,000 Arabic characters are 12.8 MB of UTF-8 JSON, so 16 MiB admits a full request sent as
# raw UTF-8 (json.dumps(..., ensure_ascii=False)); \u-escaped Arabic takes three times more and must be split.
MAX_BODY_BYTES = env_int("ARABIC_NEWS_MAX_BODY_BYTES", 16 * 1024 * 1024)

_BODY_METHODS = {"POST", "PUT", "PATCH"}
UTF8_BOM = b"\xef\xbb\xbf"


def is_json_media(media: str) -> bool:
    """Whether a (lower-case, parameter-free) media type is JSON. The API takes JSON only: BentoML would parse
    forms, multipart and pickles as such, and anything else as JSON (plain text then reads "Invalid JSON").
    Form encoding is what `curl -d` sends without -H 'Content-Type: application/json', so it gets a 415 that
    says so rather than a puzzling 400."""
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))

# pydantic's messages say what is wrong; these say what to do about it
FIXES = {"string_too_long": "split or shorten it (GET /metadata lists the limits)",
         "too_long": "send the rest in another request (GET /metadata lists the limits)",
         "extra_forbidden": "remove it (/docs.json lists each endpoint's fields)"}


def with_fixes(detail: list[dict], fields: Collection[str] = ()) -> list[dict]:
    """``detail`` (pydantic's validation errors) with the fix for each known rule added to its message; an unknown
    field is matched against the endpoint's ``fields`` ("text" -> did you mean "texts"?)."""
    import difflib

    fixed = []
    for item in detail:
        fix, loc = FIXES.get(item.get("type", "")), list(item.get("loc") or [])
        if item.get("type") == "extra_forbidden" and loc and (near := difflib.get_close_matches(str(loc[-1]), fields, 1)):
            fix = f"did you mean {near[0]!r}? Otherwise {fix}"
        fixed.append({**item, "msg": f"{item.get('msg', '')}; {fix}"} if fix else item)
    return fixed


def field_name(loc: list | tuple) -> str:
    """``["texts", 2]`` -> ``texts[2]``; an empty location is the request ``body`` itself."""
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    return name or "body"


def error_body(detail: list[dict]) -> dict:
    """The uniform client-error body: a one-line summary plus one entry per problem."""
    entries = []
    for item in detail:
        loc = list(item.get("loc") or [])
        entries.append({"field": field_name(loc), "loc": loc or ["body"], "type": item.get("type", "invalid"),
                        "msg": item.get("msg", "")})
    summary = "; ".join(f"{e['field']}: {e['msg']}" for e in entries[:5])
    if len(entries) > 5:
        summary += f"; and {len(entries) - 5} more"
    return {"error": summary, "detail": entries}


async def _send_json(scope: Scope, send: Send, status: int, body: dict, close: bool = False) -> None:
    log_client_error(scope, status, body)
    payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload, "more_body": False})


def too_large_error(limit: int, size: str) -> dict:
    """The 413 body: the request body is ``size``, over ``limit`` bytes."""
    in_mib = f" ({limit / 2**20:.4g} MiB)" if limit >= 2**20 else ""
    return error_body([{"loc": ["body"], "type": "body_too_large",
                        "msg": f"request body is {size}, over the limit of {limit} bytes{in_mib}; "
                               f"send fewer or shorter texts per request"}])


def unsupported_media_error(media: str) -> dict:
    """The 415 body: the API parses JSON only."""
    return error_body([{"loc": ["body"], "type": "unsupported_media_type",
                        "msg": f"Content-Type {media} is not accepted; send JSON with Content-Type: application/json"}])


def unsupported_encoding_error(encoding: str) -> dict:
    """The 415 body for a compressed request: the API reads JSON as sent, uncompressed."""
    return error_body([{"loc": ["body"], "type": "unsupported_content_encoding",
                        "msg": f"Content-Encoding {encoding} is not accepted; send the JSON uncompressed"}])


def not_found_error(path: str, endpoints: Mapping[str, Collection[str]]) -> dict:
    """The 404 body: no endpoint at ``path``; lists ``endpoints`` (path -> methods)."""
    listing = ", ".join(f"{method} {route}" for route, methods in endpoints.items() for method in methods)
    msg = f"no endpoint at {path}" + (f"; the endpoints are {listing}" if listing else "")
    return error_body([{"loc": ["request", "path"], "type": "not_found",
                        "msg": msg + "; the OpenAPI document at /docs.json describes the API, and / shows it"}])


def method_not_allowed_error(method: str, path: str, allowed: Collection[str]) -> dict:
    """The 405 body: ``path`` does not answer ``method``; it answers ``allowed``."""
    return error_body([{"loc": ["request", "method"], "type": "method_not_allowed",
                        "msg": f"{path} does not answer {method}; it answers {', '.join(allowed)}"}])


class RequestLimitsMiddleware:
    """Size limit, UTF-8 and media-type checks before parsing; uniform 4xx bodies after (see module doc)."""

    def __init__(self, app: Callable[..., Awaitable[None]], max_body_bytes: int = MAX_BODY_BYTES,
                 endpoints: Mapping[str, Collection[str]] | None = None,
                 fields: Mapping[str, Collection[str]] | None = None) -> None:
        """``endpoints``: the documented endpoints, path -> methods, named in 404 and 405 answers; ``fields``: each
        endpoint's request fields, path -> names, suggested for a mistyped one."""
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.endpoints = dict(endpoints or {})
        self.fields = dict(fields or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope.get("method") not in _BODY_METHODS:
            await self.app(scope, receive, _ErrorRewriter(send, scope, self.endpoints, self.fields))
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        media = headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if not is_json_media(media):
            await _send_json(scope, send, 415, unsupported_media_error(media), close=True)
            return
        encoding = headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            await _send_json(scope, send, 415, unsupported_encoding_error(encoding), close=True)
            return
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await _send_json(scope, send, 400, error_body([{"loc": ["body"], "type": "content_length_invalid",
                                                         "msg": f"Content-Length {declared!r} is not a byte count"}]),
                                 close=True)
                return
            if int(declared) > self.max_body_bytes:
                await _send_json(scope, send, 413, too_large_error(self.max_body_bytes, f"{int(declared)} bytes"),
                                 close=True)
                return

        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left; nothing to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await _send_json(scope, send, 413, too_large_error(self.max_body_bytes, f"over {self.max_body_bytes} bytes"),
                                 close=True)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        sent = b"".join(chunks)
        body = sent.removeprefix(UTF8_BOM)
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            offset = exc.start + len(sent) - len(body)  # in the bytes as sent, byte order mark included
            await _send_json(scope, send, 400, error_body([{
                "loc": ["body"], "type": "utf8_invalid",
                "msg": f"request body is not valid UTF-8 (byte {offset}: {exc.reason}); encode the JSON as UTF-8"}]))
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, _ErrorRewriter(send, scope, self.endpoints, self.fields))


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes:
    return next((v for k, v in headers if k.lower() == name), b"")


class _ErrorRewriter:
    """Wraps ``send``: re-sends in the uniform shape a 400 in BentoML's validation shape, and Starlette's
    plain-text 404 and 405 (any other answer passes through untouched); logs every 4xx in one line."""

    def __init__(self, send: Send, scope: Scope, endpoints: Mapping[str, Collection[str]],
                 fields: Mapping[str, Collection[str]]) -> None:
        self.send = send
        self.scope = scope
        self.endpoints = endpoints
        self.fields = fields
        self.start: Message | None = None
        self.parts: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start" and message.get("status") in (400, 404, 405):
            self.start = message  # held until the body is complete
            return
        if message["type"] == "http.response.start" and 400 <= message.get("status", 0) < 500:
            log_client_error(self.scope, message["status"])
        if self.start is None:
            await self.send(message)
            return
        self.parts.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(self.parts)
        headers = [(k, v) for k, v in self.start.get("headers", []) if k.lower() != b"content-length"]
        uniform = self._uniform(self.start["status"], headers, body)
        log_client_error(self.scope, self.start["status"], uniform[0] if uniform else None)
        if uniform is None:
            await self.send(self.start)
            await self.send({"type": "http.response.body", "body": body, "more_body": False})
            return
        payload = json.dumps(uniform[0], ensure_ascii=False).encode("utf-8")
        headers = [*uniform[1], (b"content-length", str(len(payload)).encode())]
        await self.send({**self.start, "headers": headers})
        await self.send({"type": "http.response.body", "body": payload, "more_body": False})

    def _uniform(self, status: int, headers: list[tuple[bytes, bytes]],
                 body: bytes) -> tuple[dict, list[tuple[bytes, bytes]]] | None:
        """The uniform body for this answer and the headers to send with it; None to pass the answer through."""
        if status == 400:
            try:
                decoded = json.loads(body)
            except ValueError:
                return None
            detail = decoded.get("detail") if isinstance(decoded, dict) else None
            if not isinstance(detail, list) or not all(isinstance(d, dict) for d in detail):
                return None  # not a validation answer
            return error_body(with_fixes(detail, self.fields.get(self.scope.get("path", ""), ()))), headers
        # 404 and 405: Starlette's own plain-text answers only (a route's JSON 404 is its own answer)
        if not _header(headers, b"content-type").startswith(b"text/plain"):
            return None
        path = self.scope.get("path", "")
        kept = [(k, v) for k, v in headers if k.lower() not in (b"content-type", b"allow")]
        kept.append((b"content-type", b"application/json"))
        if status == 404:
            return not_found_error(path, self.endpoints), kept
        # Starlette's Allow names the methods of the first route matching the path only (POST /metadata, not
        # the mounted app's GET /metadata), so the documented methods are added.
        allowed = {m.strip().upper() for m in _header(headers, b"allow").decode("latin-1").split(",") if m.strip()}
        allowed |= {m.upper() for m in self.endpoints.get(path, ())}
        if "GET" in allowed:
            allowed.add("HEAD")  # Starlette answers HEAD wherever it answers GET
        methods = sorted(allowed)
        kept.append((b"allow", ", ".join(methods).encode("latin-1")))
        return method_not_allowed_error(self.scope.get("method", ""), path, methods), kept
