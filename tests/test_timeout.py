"""serving.timeout: BentoML's request timeout without a timer left behind per request.

A real Starlette app behind the middleware, driven over ASGI by httpx in a real event loop; the loop's timer
heap is inspected directly, since what is fixed is what stays scheduled there after the answer.
"""
from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from serving.timeout import CancellingTimeoutMiddleware, install


async def _echo(request: Request) -> JSONResponse:
    return JSONResponse({"body": (await request.body()).decode()})


async def _slow(_: Request) -> JSONResponse:
    await asyncio.sleep(5)
    return JSONResponse({"late": True})


async def _silent_app(scope, receive, send) -> None:
    """An ASGI app that returns without answering."""


def _app(timeout: float) -> CancellingTimeoutMiddleware:
    return CancellingTimeoutMiddleware(Starlette(routes=[Route("/echo", _echo, methods=["POST"]), Route("/slow", _slow)]),
                                       timeout=timeout)


def _request_timers(loop: asyncio.AbstractEventLoop) -> int:
    """Timers the middleware scheduled that are still waiting in the loop's heap (CPython's ``_scheduled``)."""
    return sum(1 for handle in loop._scheduled if not handle.cancelled()
               and getattr(handle._callback, "__name__", "") == "_set_timer_out")


def test_answered_requests_leave_no_timer_behind() -> None:
    async def scenario() -> tuple[list[int], int]:
        transport = httpx.ASGITransport(app=_app(timeout=120))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            responses = await asyncio.gather(*(client.post("/echo", content=f"نص {i}") for i in range(200)))
        return [(r.status_code, r.json()["body"]) for r in responses], _request_timers(asyncio.get_running_loop())

    answers, pending = asyncio.run(scenario())
    assert answers == [(200, f"نص {i}") for i in range(200)]  # answers pass through unchanged
    assert pending == 0  # BentoML's own middleware leaves 200 timers here, each holding its request for 120 s


def test_the_timeout_still_answers_504() -> None:
    async def scenario() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app(timeout=0.2)), base_url="http://test") as client:
            return await client.get("/slow")

    response = asyncio.run(scenario())
    assert response.status_code == 504
    assert response.json() == {"error": "Not able to process the request in 0.2 seconds"}


def test_an_app_that_never_answers_does_not_hold_the_request() -> None:
    async def scenario() -> int:
        middleware = CancellingTimeoutMiddleware(_silent_app, timeout=120)
        sent: list[dict] = []

        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        await asyncio.wait_for(middleware({"type": "http", "method": "GET", "path": "/"}, receive, send), timeout=5)
        assert sent == []
        return _request_timers(asyncio.get_running_loop())

    assert asyncio.run(scenario()) == 0


def test_install_replaces_bentomls_middleware() -> None:
    from serving.bentoml_internals import traffic  # BentoML's module, where it looks the middleware up

    install()
    install()  # idempotent
    assert traffic.TimeoutMiddleware is CancellingTimeoutMiddleware
