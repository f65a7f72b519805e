"""A TCP fault proxy for the chaos tests: 127.0.0.1:<port> in front of a real server.

    with TcpProxy(redis_port) as proxy:
        settings = settings.replace(redis_url=proxy.url)
        proxy.blackhole()   # connections open, nothing answered
        proxy.forward()     # bytes flow again
        proxy.refuse()      # connect() is refused; open connections are reset

Modes, switchable at run time from any thread:

- forward: bytes flow both ways, connection by connection.
- blackhole: every connection, old and new, stays open and nothing flows either way. Bytes sent
  meanwhile wait in the kernel's buffers, as they would in front of a stalled server or across
  a partition, and flow when forwarding resumes (so a command a client gave up on may still
  run later, exactly as it can in production).
- refuse: the listening socket is closed, so connecting fails with ECONNREFUSED, and every open
  connection is reset.

Hand-written because it is about a hundred lines and no maintained package does just this
in-process: Toxiproxy needs its Go server (toxiproxy-python is only its client) and
asynctcpproxy has not been released since 2019.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from enum import Enum
from types import TracebackType

POLL = 0.05  # how quickly a pump notices a mode change or a stop
SEND_TIMEOUT = 5.0  # a peer that stops reading must not wedge the proxy


class Mode(Enum):
    FORWARD = "forward"
    BLACKHOLE = "blackhole"
    REFUSE = "refuse"


def _reset(sock: socket.socket) -> None:
    """Close with an RST rather than a FIN: the peer sees the connection torn, not finished."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class _Link:
    """One client connection and its upstream twin, pumped by two threads."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        # Held while bytes are moved, so a mode change waits for a chunk already in hand.
        self.locks = (threading.Lock(), threading.Lock())
        self.closed = threading.Event()
        self.threads: list[threading.Thread] = []

    def close(self, *, reset: bool = False) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for sock in (self.client, self.upstream):
            if reset:
                _reset(sock)
            else:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


class TcpProxy:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self._mode = Mode.FORWARD
        self._forwarding = threading.Event()
        self._forwarding.set()
        self._stopping = threading.Event()
        self._state = threading.Lock()
        self._links: set[_Link] = set()
        self._listener: socket.socket | None = self._listen(0)
        self.port: int = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop, name="tcp-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def connections(self) -> int:
        with self._state:
            return sum(1 for link in self._links if not link.closed.is_set())

    def start(self) -> TcpProxy:
        self._acceptor.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._forwarding.set()  # wake the pumps so they see the stop
        with self._state:
            self._close_listener()
            links = list(self._links)
            self._links.clear()
        for link in links:
            link.close()
        if self._acceptor.is_alive():
            self._acceptor.join(timeout=5)
        for link in links:
            for thread in link.threads:
                thread.join(timeout=5)

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def forward(self) -> None:
        with self._state:
            if self._listener is None:
                self._listener = self._listen(self.port)
            self._mode = Mode.FORWARD
        self._forwarding.set()

    def blackhole(self) -> None:
        self._forwarding.clear()
        with self._state:
            self._mode = Mode.BLACKHOLE
            links = list(self._links)
        self._barrier(links)

    def refuse(self) -> None:
        self._forwarding.clear()
        with self._state:
            self._mode = Mode.REFUSE
            self._close_listener()
            links = list(self._links)
            self._links.clear()
        for link in links:
            link.close(reset=True)

    @staticmethod
    def _barrier(links: list[_Link]) -> None:
        # Once this returns, no pump is between reading a chunk and sending it on.
        for link in links:
            for lock in link.locks:
                with lock:
                    pass

    @staticmethod
    def _listen(port: int) -> socket.socket:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
        return listener

    def _close_listener(self) -> None:
        if self._listener is not None:
            # shutdown() first: it takes the socket out of LISTEN at once, even while the
            # accept thread is still polling it (close() alone waits for that poll to end).
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            listener = self._listener
            if listener is None:
                self._stopping.wait(POLL)
                continue
            try:
                ready, _, _ = select.select([listener], [], [], POLL)
                if not ready:
                    continue
                client, _ = listener.accept()
            except (OSError, ValueError):
                continue  # closed under us by refuse() or stop()
            try:
                upstream = socket.create_connection(self.upstream, timeout=2)
            except OSError:
                _reset(client)  # the server is down: the client sees its connection torn
                continue
            for sock in (client, upstream):
                sock.settimeout(SEND_TIMEOUT)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = _Link(client, upstream)
            with self._state:
                if self._mode is Mode.REFUSE or self._stopping.is_set():
                    link.close(reset=True)
                    continue
                self._links.add(link)
            for index, (src, dst) in enumerate(((client, upstream), (upstream, client))):
                thread = threading.Thread(
                    target=self._pump, args=(link, src, dst, link.locks[index]), daemon=True
                )
                link.threads.append(thread)
                thread.start()

    def _pump(
        self, link: _Link, src: socket.socket, dst: socket.socket, lock: threading.Lock
    ) -> None:
        while not (link.closed.is_set() or self._stopping.is_set()):
            if not self._forwarding.wait(POLL):
                continue  # black-holed: leave the bytes where they are
            try:
                ready, _, _ = select.select([src], [], [], POLL)
            except (OSError, ValueError):
                break
            if not ready:
                continue
            with lock:
                if self._mode is not Mode.FORWARD:
                    continue
                try:
                    data = src.recv(65536)
                    if data:
                        dst.sendall(data)
                except OSError:
                    data = b""
            if not data:
                break
        link.close()
        with self._state:
            self._links.discard(link)
