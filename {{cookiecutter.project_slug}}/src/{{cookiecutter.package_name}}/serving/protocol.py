"""uvicorn's HTTP protocol with a deadline for a request's headers.

uvicorn times out idle keep-alive connections, but not a connection that sends its headers a byte
at a time, or nothing at all after connecting: a few hundred such connections (slowloris) hold a
worker's sockets for as long as the clients like. Here each request's headers must be complete
within ``ServingSettings.header_timeout`` seconds of the connection or of the request's first
byte; otherwise the connection is answered 408 and closed. The body has its own deadline
(``middleware.BodySizeLimitMiddleware``). ``cli serve`` passes this class to uvicorn by name, so
that every worker process imports it, and it reads the setting from the environment, as
``create_app`` does.
"""

from __future__ import annotations

import asyncio
from functools import cache

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..config import load_settings

REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 33\r\nconnection: close\r\n\r\nrequest headers not sent in time\n"
)


@cache
def header_timeout() -> float:
    """The setting, read once per process (uvicorn makes a protocol object per connection)."""
    return load_settings().serving.header_timeout


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` (uvicorn's default when httptools is installed) plus the deadline."""

    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(header_timeout(), self._headers_too_slow)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.write(REQUEST_TIMEOUT)
            self.transport.close()
