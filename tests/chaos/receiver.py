"""A local webhook receiver that verifies Standard Webhooks signatures and misbehaves on cue.

Some notifications are answered 500 first, then left hanging past the sender's timeout,
then accepted: the sender must retry them under one webhook-id until one attempt lands.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Request:
    webhook_id: str
    body: bytes
    verified: bool
    status: int
    stalled: bool

    @property
    def accepted(self) -> bool:
        """What the sender saw as delivered: a verified 2xx answered within its timeout."""
        return self.verified and 200 <= self.status < 300 and not self.stalled


@dataclass
class FaultyAnswers:
    """Every `faulty_every`-th notification (by first arrival, starting with the first) gets
    500, then a stall past `stall_s`, then 200; the others 200 at once."""

    stall_s: float
    faulty_every: int = 2

    def answer(self, arrival: int, attempt: int) -> tuple[int, float]:
        if arrival % self.faulty_every or attempt >= 3:
            return 200, 0.0
        return (500, 0.0) if attempt == 1 else (200, self.stall_s)


@dataclass
class WebhookReceiver:
    secret: str
    answers: FaultyAnswers
    url: str = ""
    requests: list[Request] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, webhook_id: str, raw: bytes, headers: dict[str, str]) -> tuple[int, float]:
        verified = self._verify(raw, headers)
        with self._lock:
            attempt = 1 + sum(r.webhook_id == webhook_id for r in self.requests)
            seen = list(dict.fromkeys(r.webhook_id for r in self.requests))
            arrival = seen.index(webhook_id) if webhook_id in seen else len(seen)
            status, stall = self.answers.answer(arrival, attempt) if verified else (401, 0.0)
            self.requests.append(Request(webhook_id, raw, verified, status, stall > 0))
        return status, stall

    def _verify(self, raw: bytes, headers: dict[str, str]) -> bool:
        try:
            Webhook(self.secret).verify(raw, headers)
        except WebhookVerificationError:
            return False
        return True

    def by_id(self) -> dict[str, list[Request]]:
        grouped: dict[str, list[Request]] = defaultdict(list)
        with self._lock:
            for request in self.requests:
                grouped[request.webhook_id].append(request)
        return dict(grouped)

    def accepted_ids(self) -> set[str]:
        return {i for i, reqs in self.by_id().items() if any(r.accepted for r in reqs)}

    def accepted_notifications(self) -> set[tuple[str, str]]:
        """(scope, type) of every notification accepted, e.g. ("ticker:X", "alert.firing")."""
        with self._lock:
            bodies = [json.loads(r.body) for r in self.requests if r.accepted]
        return {(b["data"]["scope"], b["type"]) for b in bodies}


@contextmanager
def running(receiver: WebhookReceiver) -> Iterator[WebhookReceiver]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, stall = receiver.record(headers.get("webhook-id", ""), raw, headers)
            if stall:
                time.sleep(stall)
            try:
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()
            except OSError:
                return  # the sender gave up (timeout) and closed the connection

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/finsent"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
