"""Request ids, access logs and a body-size limit and deadline, as plain ASGI middleware.

Plain ASGI rather than Starlette's ``BaseHTTPMiddleware``: it adds no task or stream per request,
which matters on an endpoint whose whole job takes well under a millisecond.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid

from fastapi import HTTPException
from loguru import logger
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
# A caller's id is echoed into logs and headers, so only short, printable ids are kept.
ACCEPTED_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
CONTENT_TOO_LARGE = 413
REQUEST_TIMEOUT = 408


class BodyTimeoutError(Exception):
    """The client did not send the whole body before the deadline."""


def request_id_from(scope: Scope) -> str:
    """The caller's ``X-Request-ID`` when it is sane, else a new one."""
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER.encode():
            candidate = value.decode("latin-1")
            if ACCEPTED_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


class RequestContextMiddleware:
    """Give every request an id (returned in ``X-Request-ID``) and log one access line for it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        started = time.perf_counter()
        status_code = 500  # what the client sees if the app fails before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                headers = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        with logger.contextualize(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                logger.info(
                    "{} {} {} {:.1f} ms [{}]",
                    scope["method"],
                    scope["path"],
                    status_code,
                    (time.perf_counter() - started) * 1000,
                    request_id,
                )


class BodySizeLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413 before reading them into memory, and
    bodies not received within ``timeout`` seconds with 408 (and a closed connection): a client
    that announces a Content-Length and sends less would otherwise hold the request forever."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    def too_large(self) -> HTTPException:
        return HTTPException(
            status_code=CONTENT_TOO_LARGE,
            detail=f"request body over {self.max_bytes} bytes: send fewer trips per request",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self.reply(send, self.too_large().status_code, self.too_large().detail)
                return
        received = 0
        body_complete = False
        response_started = False
        deadline = asyncio.get_running_loop().time() + self.timeout

        async def counting_receive() -> Message:
            # Bodies without a Content-Length (chunked) are counted as they arrive; FastAPI
            # passes an HTTPException raised while it reads the body on to its handler.
            nonlocal received, body_complete
            if body_complete or response_started:
                return await receive()  # e.g. waiting for a disconnect: no deadline
            try:
                async with asyncio.timeout_at(deadline):  # no task per call, unlike wait_for
                    message = await receive()
            except TimeoutError:
                raise BodyTimeoutError from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_complete = not message.get("more_body", False)
                if received > self.max_bytes:
                    raise self.too_large()
            return message

        async def watching_send(message: Message) -> None:
            nonlocal response_started
            response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTimeoutError:
            if response_started:
                raise
            detail = f"request body not received within {self.timeout:g} s"
            # Closing the connection: the rest of a late body must not be read as a new request.
            await self.reply(send, REQUEST_TIMEOUT, detail, close=True)

    @staticmethod
    async def reply(send: Send, status: int, detail: str, *, close: bool = False) -> None:
        body = json.dumps({"detail": detail}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
