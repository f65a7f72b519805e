"""E-mail newsletter outlet: each story mailed to a recipient list over SMTP.

- `published` → one issue per recipient: `multipart/alternative` with a plain-text part and
  the `email_html` rendition, `List-Unsubscribe` (and one-click `List-Unsubscribe-Post` for an
  https address), a `Message-ID` derived from the delivery and the recipient (so a receiving
  server can recognise a duplicate too).
- `corrected` / `killed` → a short notice to everyone who received (or may have received) an
  issue of that story; nothing to anyone else. A plain `updated` is not mailed: an inbox cannot
  be edited, and a newsletter that mails every typo fix is unsubscribed from.

The recipients are read (inline list or file) and frozen in `outlet_sends` when a send starts;
each one is marked `sending` in its own committed transaction just before the SMTP transaction
and `sent` just after, so a worker killed mid-send resumes with the next recipient and the one
it was sending to is left `unknown` (never mailed twice). Recipients go out in batches, one
SMTP connection per batch; an attempt sends until its deadline and then carries on in a new
run (MoreToSendError), not counted as a retry.

Outcomes: the delivery is `delivered` once every recipient is `sent`, `failed` (refused by
the server for that address: 5xx) or `unknown`; the receipt counts each. A connection, TLS or
4xx problem is retried; refused credentials (535) pause the outlet with an alert.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any, ClassVar, Literal

from pressroom_shared.article import Article, Event
from pressroom_shared.config import Settings
from pressroom_shared.outlet_options import (
    REQUIRED,
    OptionsError,
    option,
    parse_options,
    positive,
    secret_option,
)
from pressroom_shared.outlets_config import OutletConfig
from pressroom_shared.plugins import (
    Delivery,
    MoreToSendError,
    OutletRefusedError,
    PermanentError,
    Receipt,
    RenderContext,
    TransientError,
)
from pressroom_shared.sends import FAILED, PENDING, SENDING, SENT, UNKNOWN, SendLog
from pressroom_shared.timeutil import utcnow
from pressroom_workers.outlets.http import tls_context
from pressroom_workers.renderers.email import labels

ISSUE, NOTICE = "issue", "notice"
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}


def _address(value: Any) -> str | None:
    address = parseaddr(value)[1]
    return None if "@" in address else f"must be an e-mail address, got {value!r}"


@dataclass(frozen=True)
class EmailOptions:
    host: str = option(REQUIRED, "SMTP server.")
    sender: str = option(
        REQUIRED, 'From: address, e.g. "Пресс-центр <news@example.org>".', check=_address
    )
    security: Literal["starttls", "tls", "none"] = option(
        "starttls",
        '"starttls" (upgrade a plain connection, port 587), "tls" (implicit TLS, port 465) '
        'or "none" (only for a relay on localhost).',
    )
    port: int | None = option(None, "SMTP port (default by security: 587, 465, 25).")
    username: str | None = option(None, "Login name, if the server wants one.")
    password: str | None = secret_option(
        'Login password: give password_env = "PRESSROOM_SECRET_<NAME>".', required=False
    )
    recipients: tuple[str, ...] = option((), "Recipient addresses, inline.")
    recipients_file: Path | None = option(
        None, "File of recipient addresses, one a line (# comments); read when a send starts."
    )
    list_unsubscribe: str | None = option(
        None,
        "List-Unsubscribe target: an https URL (also announced as one-click) or a mailto: "
        "address. Default: mailto:<sender>?subject=unsubscribe.",
    )
    batch_size: int = option(50, "Recipients per SMTP connection.", check=positive)
    timeout: float | None = option(
        None,
        "Seconds for each SMTP exchange (default PRESSROOM_HTTP_TIMEOUT_SECONDS).",
        check=positive,
    )
    ca_file: str | None = option(None, "PEM file of the CA to trust for the server, if private.")


class EmailOutlet:
    type_name: ClassVar[str] = "email"
    requires: ClassVar[frozenset[str]] = frozenset({"email_html"})
    Options: ClassVar[type[EmailOptions]] = EmailOptions

    def __init__(self, config: OutletConfig, settings: Settings) -> None:
        options = parse_options(EmailOptions, config.name, config.options, settings)
        problems = []
        if not options.recipients and options.recipients_file is None:
            problems.append("give recipients = [...] or recipients_file")
        for address in options.recipients:
            if (error := _address(address)) is not None:
                problems.append(f"recipients: {error}")
        if (options.username is None) != (options.password is None):
            problems.append("username and password go together")
        if options.password is not None and options.security == "none":
            problems.append('a password is never sent without TLS: security = "none" refused')
        if problems:
            raise OptionsError(f"outlet {config.name!r}: " + "; ".join(problems))
        self.name = config.name
        self.options = options
        self.port = options.port or DEFAULT_PORTS[options.security]
        self.timeout = options.timeout or settings.http_timeout_seconds
        self.deadline = settings.delivery_deadline_seconds
        self.context = RenderContext(settings.site_url, settings.publisher_name)
        sender = parseaddr(options.sender)[1]
        self.sender = sender
        self.domain = sender.rpartition("@")[2]
        self.unsubscribe = options.list_unsubscribe or f"mailto:{sender}?subject=unsubscribe"
        self._tls: ssl.SSLContext | None = (
            tls_context(options.ca_file) if options.security != "none" else None
        )
        self._sends = SendLog(settings, config.name)

    # -- delivery -------------------------------------------------------------------------------

    def deliver(self, delivery: Delivery) -> Receipt:
        if "email_html" not in delivery.renditions:
            raise PermanentError("email needs the email_html rendition")
        article = delivery.article
        if delivery.event == Event.PUBLISHED:
            kind = ISSUE
            recipients = self._recipients()
        elif delivery.event in (Event.CORRECTED, Event.KILLED):
            kind = NOTICE
            recipients = self._sends.received(article.id, ISSUE)
        else:
            return Receipt("updates are not mailed (corrections and kills are)")
        total = self._sends.freeze(
            delivery.id, kind, recipients, article_id=article.id, version=article.version
        )
        self._sends.settle_interrupted(delivery.id, kind, delivery.attempt)
        self._send_pending(delivery, kind)
        return self._receipt(delivery.id, kind, total)

    def _recipients(self) -> list[str]:
        addresses = list(self.options.recipients)
        if self.options.recipients_file is not None:
            try:
                text = self.options.recipients_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise TransientError(f"recipients_file: {exc}") from exc
            for line in text.splitlines():
                line = line.split("#", 1)[0].strip()
                if line:
                    addresses.append(line)
        return [a for a in dict.fromkeys(addresses) if _address(a) is None]

    def _send_pending(self, delivery: Delivery, kind: str) -> None:
        pending = [s.recipient for s in self._sends.sends(delivery.id, kind) if s.state == PENDING]
        started = time.monotonic()
        sent_now = 0
        for first in range(0, len(pending), self.options.batch_size):
            batch = pending[first : first + self.options.batch_size]
            with self._connection() as smtp:
                for recipient in batch:
                    # The lease outlives one deadline: hand over to a fresh run (and lease)
                    # rather than overstay it.
                    if sent_now and time.monotonic() - started > self.deadline:
                        left = len(pending) - sent_now
                        raise MoreToSendError(f"{sent_now} mailed in this run; {left} left")
                    self._send_one(smtp, delivery, kind, recipient)
                    sent_now += 1

    def _send_one(self, smtp: smtplib.SMTP, delivery: Delivery, kind: str, recipient: str) -> None:
        attempt = delivery.attempt
        if not self._sends.mark(
            delivery.id, kind, recipient, SENDING, attempt=attempt, expect=[PENDING]
        ):
            return
        message = self.message(delivery, kind, recipient)
        try:
            smtp.send_message(message, from_addr=self.sender, to_addrs=[recipient])
        except smtplib.SMTPSenderRefused as exc:
            # MAIL FROM refused: nothing was sent, and no recipient is to blame.
            self._sends.mark(
                delivery.id,
                kind,
                recipient,
                PENDING,
                attempt=attempt,
                expect=[SENDING],
                detail=f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}",
            )
            refusal = f"SMTP refused the sender: {exc.smtp_code} {_text(exc.smtp_error)}"
            if exc.smtp_code in (530, 535):  # authentication (or TLS) required
                raise OutletRefusedError(refusal) from None
            if exc.smtp_code >= 500:
                raise PermanentError(refusal) from None
            raise TransientError(refusal) from None
        except smtplib.SMTPRecipientsRefused as exc:
            code, reason = exc.recipients.get(recipient, (550, b"refused"))
            self._settle(delivery, kind, recipient, code, reason)
        except smtplib.SMTPResponseException as exc:
            self._settle(delivery, kind, recipient, exc.smtp_code, exc.smtp_error)
            if exc.smtp_code < 500:
                raise TransientError(f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}") from None
        except (smtplib.SMTPException, OSError) as exc:
            # The connection broke during the SMTP transaction: the server may have taken the
            # message. It is never sent again on its own.
            self._sends.mark(
                delivery.id,
                kind,
                recipient,
                UNKNOWN,
                attempt=attempt,
                expect=[SENDING],
                detail=f"{type(exc).__name__}: {exc}",
            )
            raise TransientError(f"SMTP connection lost: {type(exc).__name__}: {exc}") from None
        else:
            self._sends.mark(
                delivery.id,
                kind,
                recipient,
                SENT,
                attempt=attempt,
                expect=[SENDING],
                data={"message_id": message["Message-ID"]},
            )

    def _settle(
        self, delivery: Delivery, kind: str, recipient: str, code: int, reason: bytes | str
    ) -> None:
        """The server answered: 4xx means try this recipient again later, 5xx never."""
        state = PENDING if code < 500 else FAILED
        self._sends.mark(
            delivery.id,
            kind,
            recipient,
            state,
            attempt=delivery.attempt,
            expect=[SENDING],
            detail=f"SMTP {code}: {_text(reason)}",
        )

    @contextmanager
    def _connection(self) -> Iterator[smtplib.SMTP]:
        host, port, timeout = self.options.host, self.port, self.timeout
        try:
            if self.options.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    host, port, timeout=timeout, context=self._tls
                )
            else:
                smtp = smtplib.SMTP(host, port, timeout=timeout)
            if self.options.security == "starttls":
                smtp.starttls(context=self._tls)
            if self.options.username is not None and self.options.password is not None:
                smtp.login(self.options.username, self.options.password)
        except smtplib.SMTPAuthenticationError as exc:
            raise OutletRefusedError(
                f"SMTP {host}:{port} refused the login: {exc.smtp_code} {_text(exc.smtp_error)}"
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientError(f"SMTP {host}:{port}: {type(exc).__name__}: {exc}") from None
        try:
            yield smtp
        finally:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

    def _receipt(self, delivery_id: str, kind: str, total: int) -> Receipt:
        counts = {SENT: 0, FAILED: 0, UNKNOWN: 0, PENDING: 0, SENDING: 0}
        for send in self._sends.sends(delivery_id, kind):
            counts[send.state] = counts.get(send.state, 0) + 1
        if counts[PENDING] or counts[SENDING]:
            raise TransientError(f"{counts[PENDING] + counts[SENDING]} recipients still to mail")
        if total and counts[FAILED] == total:
            raise PermanentError(f"the server refused every recipient ({total})")
        detail = f"{kind}: {counts[SENT]} mailed"
        if counts[FAILED]:
            detail += f", {counts[FAILED]} refused"
        if counts[UNKNOWN]:
            detail += f", {counts[UNKNOWN]} unknown (interrupted mid-send, not sent again)"
        return Receipt(
            detail,
            {
                "kind": kind,
                "recipients": total,
                "sent": counts[SENT],
                "failed": counts[FAILED],
                "unknown": counts[UNKNOWN],
            },
        )

    # -- the message ----------------------------------------------------------------------------

    def message(self, delivery: Delivery, kind: str, recipient: str) -> EmailMessage:
        article = delivery.article
        content = article.content
        text = labels(content.language)
        url = self.context.article_url(article)
        message = EmailMessage()
        if kind == ISSUE:
            subject = content.headline
            plain = _plain_issue(article, url, text["more"])
            html = delivery.renditions["email_html"].content
        elif delivery.event == Event.KILLED:
            subject = text["withdrawn"]
            plain = text["withdrawn_text"]
            html = delivery.renditions["email_html"].content
        else:
            subject = f"{text['corrected']}: {content.headline}"
            plain = f"{text['corrected']}: {content.correction_note}\n\n{content.headline}\n{url}\n"
            html = None
        message["Subject"] = subject
        message["From"] = self.options.sender
        message["To"] = Address(addr_spec=recipient)
        message["Date"] = format_datetime(utcnow())
        digest = hashlib.sha256(recipient.lower().encode()).hexdigest()[:16]
        message["Message-ID"] = f"<{delivery.id}.{kind}.{digest}@{self.domain}>"
        message["Content-Language"] = content.language
        message["List-Unsubscribe"] = f"<{self.unsubscribe}>"
        if self.unsubscribe.startswith("https://"):
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(plain)
        if html is not None:
            message.add_alternative(html, subtype="html")
        return message


def _plain_issue(article: Article, url: str, more: str) -> str:
    content = article.content
    parts = [content.headline, ""]
    if content.correction_note:
        parts += [content.correction_note, ""]
    parts += [content.body_text.strip(), "", f"{more}: {url}", ""]
    return "\n".join(parts)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
