"""A local webhook receiver for `finsent demo`: verifies Standard Webhooks signatures, records.

It answers 204 to a correctly signed notification and 401 to anything else, as a real
receiver should. Freshness is judged on the sender's clock, which in the demo is simulated.
"""

from __future__ import annotations

import hmac
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from standardwebhooks import Webhook

from pipeline.clock import Clock

TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class ReceivedWebhook:
    webhook_id: str
    verified: bool
    payload: dict[str, Any]


@dataclass
class WebhookReceiver:
    """`with WebhookReceiver(secret, clock) as r:` serves on r.url until the block ends."""

    secret: str
    clock: Clock
    received: list[ReceivedWebhook] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self._server is not None, "the receiver is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hooks/finsent"

    def verify(self, body: bytes, headers: dict[str, str]) -> bool:
        """The library's signature over (id, timestamp, body), compared in constant time, and
        a timestamp within 5 minutes of the clock (the library itself only reads wall time)."""
        try:
            stamp = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
            expected = Webhook(self.secret).sign(headers["webhook-id"], stamp, body.decode())
        except (KeyError, ValueError, UnicodeDecodeError):
            return False
        if abs(stamp - self.clock.now()) > TOLERANCE:
            return False
        offered = headers.get("webhook-signature", "").split(" ")
        return any(hmac.compare_digest(expected, candidate) for candidate in offered)

    def record(self, body: bytes, headers: dict[str, str]) -> bool:
        verified = self.verify(body, headers)
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {}
        entry = ReceivedWebhook(headers.get("webhook-id", ""), verified, payload)
        with self._lock:
            self.received.append(entry)
        return verified

    def __enter__(self) -> WebhookReceiver:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _handler(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            self.send_response(204 if receiver.record(body, headers) else 401)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the demo prints its own summary."""

    return Handler
