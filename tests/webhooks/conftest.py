"""A real HTTP receiver on 127.0.0.1 that records every webhook request, and helpers to
register endpoints pointing at it."""

import selectors
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks import Webhook

from accounts.models import ALL_SCOPES

from .. import factories


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def verify(self, secret: str) -> dict:
        """The payload, if the Standard Webhooks signature checks out with ``secret``."""
        return Webhook(secret).verify(self.body, self.headers)


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    # Scripted answers, consumed in order: (status, seconds to wait before answering, body,
    # extra headers). When empty, answer 200.
    script: list[tuple] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, *responses: tuple) -> None:
        with self.lock:
            self.script.extend(responses)

    def next_answer(self) -> tuple:
        with self.lock:
            return self.script.pop(0) if self.script else (200, 0, b"ok", {})

    def wait_for(self, count: int, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.requests) >= count:
                return self.requests
            time.sleep(0.05)
        raise AssertionError(f"expected {count} requests, got {len(self.requests)}")


def _handler(receiver: Receiver):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("content-length", 0))
            body = self.rfile.read(length)
            answer = tuple(self.next())
            status, delay, reply, headers = answer + (0, b"", {})[len(answer) - 1 :]
            received = {k.lower(): v for k, v in self.headers.items()}
            receiver.requests.append(Received(self.path, received, body))
            if delay:
                time.sleep(delay)
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def next(self):
            return receiver.next_answer()

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def receiver():
    holder = Receiver(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(holder))
    server.daemon_threads = True
    holder.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _allow_loopback(settings):
    """The receiver is on loopback: allow it, as the contract's configuration does in tests."""
    settings.OTC_WEBHOOKS_ALLOW_PRIVATE = True
    settings.OTC_WEBHOOKS_TIMEOUT_SECONDS = 10


def all_scopes_key(customer) -> str:
    return factories.make_key(customer, list(ALL_SCOPES))


@dataclass
class BlackHole:
    """Accepts every connection, reads what it is sent, never answers."""

    url: str = ""
    accepted: int = 0
    open_now: int = 0
    most_open: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _serve(hole: BlackHole, listener: socket.socket, stopping: threading.Event) -> None:
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    while not stopping.is_set():
        for key, _ in selector.select(timeout=0.1):
            if key.fileobj is listener:
                connection, _ = listener.accept()
                connection.setblocking(False)
                selector.register(connection, selectors.EVENT_READ)
                with hole.lock:
                    hole.accepted += 1
                    hole.open_now += 1
                    hole.most_open = max(hole.most_open, hole.open_now)
                continue
            try:
                data = key.fileobj.recv(65536)
            except OSError:
                data = b""
            if not data:  # the sender gave up
                selector.unregister(key.fileobj)
                key.fileobj.close()
                with hole.lock:
                    hole.open_now -= 1
    for key in list(selector.get_map().values()):
        key.fileobj.close()


@pytest.fixture
def black_hole():
    listener = socket.create_server(("127.0.0.1", 0), backlog=128)
    listener.setblocking(False)
    hole = BlackHole(url=f"http://127.0.0.1:{listener.getsockname()[1]}/hooks")
    stopping = threading.Event()
    thread = threading.Thread(target=_serve, args=(hole, listener, stopping), daemon=True)
    thread.start()
    yield hole
    stopping.set()
    thread.join(5)
    listener.close()
