"""A real SMTP server on 127.0.0.1 for tests (aiosmtpd), with STARTTLS and a login.

    with SmtpServer(tmp_path) as server:           # a throwaway CA (trustme) signs its cert
        ... options: host, port=server.port, ca_file=server.ca_file,
                     username=server.username, password=server.password ...
        server.refuse("bad@example.org", 550)       # answers RCPT TO for it with 550
        server.hold_after(3)                        # the 4th DATA waits until released
        server.messages[0]["To"]

STARTTLS is required before MAIL and before AUTH, so a client that never upgrades fails.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    at: float


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmtpServer:
    def __init__(
        self,
        folder: Path,
        *,
        username: str = "pressroom",
        password: str = "s3cret",  # noqa: S107 - a throwaway test server's login
    ) -> None:
        self.username, self.password = username, password
        ca = trustme.CA()
        self.ca_file = str(folder / "smtp-ca.pem")
        ca.cert_pem.write_to_path(self.ca_file)
        server_cert = ca.issue_cert("127.0.0.1", "localhost")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_cert.configure_cert(context)
        self.port = _free_port()
        self.received: list[Received] = []
        self.refused: dict[str, int] = {}
        self.logins: list[str] = []
        self._lock = threading.Lock()
        self._hold_after: int | None = None
        self.data_delay = 0.0  # seconds each DATA takes (a slow server)
        self.held = threading.Event()  # set when a DATA is being held
        self.release = threading.Event()
        self._controller = Controller(
            _Handler(self),
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=True,
            auth_required=True,
            authenticator=self._authenticate,
        )

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == self.username
            and data.password.decode() == self.password
        )
        if ok:
            with self._lock:
                self.logins.append(self.username)
        return AuthResult(success=ok, handled=False)

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release.set()
        self._controller.stop()

    def refuse(self, address: str, code: int = 550) -> None:
        self.refused[address.lower()] = code

    def hold_after(self, count: int) -> None:
        """Hold the DATA after `count` accepted messages (a worker then dies mid-send)."""
        self._hold_after = count

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return [r.message for r in self.received]

    def recipients(self) -> list[str]:
        with self._lock:
            return [to for r in self.received for to in r.rcpt_tos]

    def wait_for(self, predicate: Callable[[SmtpServer], object], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() > deadline:
                raise TimeoutError(f"SMTP: condition not met; {len(self.received)} received")
            time.sleep(0.02)


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        code = self.server.refused.get(address.lower())
        if code is not None:
            return f"{code} 5.1.1 <{address}>: Recipient address rejected"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        box = self.server
        if box.data_delay:
            await asyncio.sleep(box.data_delay)
        if box._hold_after is not None and len(box.received) >= box._hold_after:
            box.held.set()
            # Blocks this server's loop on purpose: the client waits for the answer forever.
            box.release.wait(30)
            return "451 4.3.0 held for the test"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with box._lock:
            box.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), message, time.time())
            )
        return "250 Message accepted for delivery"
