"""Request ids, access logs and a body-size limit, as plain ASGI middleware.

Plain ASGI rather than Starlette's ``BaseHTTPMiddleware``: it adds no task or stream per request,
which matters on an endpoint whose whole job takes well under a millisecond.
"""

from __future__ import annotations

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
    """Refuse request bodies over ``max_bytes`` with 413 before reading them into memory."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

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
                await self.reply_too_large(send)
                return
        received = 0

        async def counting_receive() -> Message:
            # Bodies without a Content-Length (chunked) are counted as they arrive; FastAPI
            # passes an HTTPException raised while it reads the body on to its handler.
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self.too_large()
            return message

        await self.app(scope, counting_receive, send)

    async def reply_too_large(self, send: Send) -> None:
        error = self.too_large()
        body = json.dumps({"detail": error.detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": error.status_code,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
