"""BentoML's request timeout, without its memory cost.

BentoML 1.4.40's ``TimeoutMiddleware`` (``traffic.timeout``) schedules one timer per request with
``loop.call_later(timeout, ...)`` and never cancels it. The timer holds the request's context (its
OpenTelemetry span, the ASGI scope), so every request stays in memory for the whole timeout after it is
answered: with this service's 120 s timeout, about 4.5 KiB x requests/s x 120 s. A soak at 145 requests/s grew
the server by 4.5 MiB per 1,000 requests, and tracemalloc traced the growth to these timer handles.

``CancellingTimeoutMiddleware`` behaves the same (a 504 when no response has started within the timeout) and
cancels its timer once the response starts or the request ends. ``install()`` makes BentoML use it: BentoML
looks ``TimeoutMiddleware`` up in its module each time it builds an app, and the service module calls
``install()`` before BentoML builds its app.
"""
from __future__ import annotations

import asyncio
from typing import Any

from starlette.responses import JSONResponse

from .bentoml_internals import traffic

_ORIGINAL = traffic.TimeoutMiddleware


class CancellingTimeoutMiddleware(_ORIGINAL):  # type: ignore[misc, valid-type]
    """``traffic.TimeoutMiddleware`` whose timer is cancelled when it is no longer needed."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        timer = loop.call_later(self.timeout, self._set_timer_out, waiter)

        async def _send(message: Any) -> None:
            if not waiter.done():
                waiter.set_result(None)
                timer.cancel()
            await send(message)

        handled = asyncio.ensure_future(self.app(scope, receive, _send))
        try:
            await asyncio.wait({handled, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()  # the response has started, the app has ended, or this request was cancelled
        timed_out = waiter.done() and not waiter.cancelled() and isinstance(waiter.exception(), asyncio.TimeoutError)
        if timed_out and handled.cancel():
            await JSONResponse({"error": f"Not able to process the request in {self.timeout} seconds"},
                               status_code=504)(scope, receive, send)  # BentoML's own answer
            return
        await handled


def install() -> None:
    """Make BentoML build its apps with ``CancellingTimeoutMiddleware``; idempotent."""
    if traffic.TimeoutMiddleware not in (_ORIGINAL, CancellingTimeoutMiddleware):
        raise RuntimeError("bentoml's TimeoutMiddleware is not the one serving.timeout replaces; review serving/timeout.py")
    traffic.TimeoutMiddleware = CancellingTimeoutMiddleware
