"""The e-mail outlet and its rendition, against a real SMTP server (aiosmtpd, STARTTLS)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pressroom_shared.article import Article, Event
from pressroom_shared.config import Settings
from pressroom_shared.db import make_engine
from pressroom_shared.migrate import upgrade
from pressroom_shared.outlet_options import OptionsError
from pressroom_shared.outlets_config import OutletConfig
from pressroom_shared.plugins import (
    Delivery,
    MoreToSendError,
    OutletRefusedError,
    RenderContext,
)
from pressroom_shared.sends import SendLog
from pressroom_workers.outlets.email import EmailOutlet
from pressroom_workers.renderers.email import EmailRenderer
from tests.support.articles import killed, make_article, next_version
from tests.support.smtp_server import SmtpServer

REPO = Path(__file__).resolve().parents[2]
CONTEXT = RenderContext("http://127.0.0.1:8000/site", "Пресс-центр")
READERS = [f"reader{n}@example.org" for n in range(7)]


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with SmtpServer(tmp_path) as server:
        yield server


@pytest.fixture
def db_settings(tmp_path: Path) -> Settings:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'pressroom.db'}",
        http_timeout_seconds=5.0,
        publisher_name="Пресс-центр",
        secrets={"PRESSROOM_SECRET_SMTP": "s3cret"},
    )
    upgrade(make_engine(settings))
    return settings


def options_for(smtp: SmtpServer, **extra: object) -> dict[str, object]:
    return {
        "host": "127.0.0.1",
        "port": smtp.port,
        "ca_file": smtp.ca_file,
        "username": smtp.username,
        "password_env": "PRESSROOM_SECRET_SMTP",
        "sender": "Пресс-центр <news@pressroom.example>",
        "recipients": READERS,
        "batch_size": 3,
        "list_unsubscribe": "https://pressroom.example/unsubscribe",
        **extra,
    }


def outlet_for(smtp: SmtpServer, settings: Settings, **extra: object) -> EmailOutlet:
    return EmailOutlet(OutletConfig("letters", "email", options_for(smtp, **extra)), settings)


def delivery(article: Article, event: Event, attempt: int = 1) -> Delivery:
    return Delivery(
        id=f"dlv_{article.id}_v{article.version}",
        event=event,
        article=article,
        renditions={"email_html": EmailRenderer().render(article, CONTEXT)},
        attempt=attempt,
    )


class _Scan(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.unstyled: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag in {"p", "h1", "h2", "li", "a", "ul"} and not dict(attrs).get("style"):
            self.unstyled.append(tag)


def test_the_html_part_has_inline_styles_and_no_scripts() -> None:
    hostile = make_article(
        body_html='<p>x</p><script>alert(1)</script><p onclick="y">z</p><style>p{}</style>'
    )
    for article in (make_article(), hostile, killed(make_article())):
        html = EmailRenderer().render(article, CONTEXT).content
        scan = _Scan()
        scan.feed(html)
        assert "script" not in scan.tags
        assert "style" not in scan.tags
        assert "onclick" not in html
        assert scan.unstyled == []


def test_publish_mails_one_issue_per_reader_multipart_with_headers(
    smtp: SmtpServer, db_settings: Settings
) -> None:
    outlet = outlet_for(smtp, db_settings)
    receipt = outlet.deliver(delivery(make_article(), Event.PUBLISHED))
    assert receipt.data["sent"] == len(READERS)
    assert sorted(smtp.recipients()) == sorted(READERS)
    assert smtp.logins  # STARTTLS, then the login
    message = smtp.messages[0]
    assert message.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert message["List-Unsubscribe"] == "<https://pressroom.example/unsubscribe>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Message-ID"].endswith("@pressroom.example>")
    assert len({m["Message-ID"] for m in smtp.messages}) == len(READERS)
    assert message["Subject"] == make_article().headline
    plain = message.get_body(("plain",))
    assert plain is not None
    assert "обмена пленными" in plain.get_content()


def test_redelivery_mails_nobody_twice(smtp: SmtpServer, db_settings: Settings) -> None:
    outlet = outlet_for(smtp, db_settings)
    d = delivery(make_article(), Event.PUBLISHED)
    first = outlet.deliver(d)
    again = outlet.deliver(Delivery(**{**d.__dict__, "attempt": 2}))
    assert first == again
    assert len(smtp.received) == len(READERS)


def test_update_is_not_mailed_correction_and_kill_notify_those_who_got_it(
    smtp: SmtpServer, db_settings: Settings, tmp_path: Path
) -> None:
    v1 = make_article()
    outlet_for(smtp, db_settings).deliver(delivery(v1, Event.PUBLISHED))
    # A reader who subscribes later gets no notice about a story never sent to them.
    late = outlet_for(smtp, db_settings, recipients=[*READERS, "late@example.org"])
    v2 = next_version(v1, headline="Обмен завершён")
    assert "not mailed" in late.deliver(delivery(v2, Event.UPDATED)).detail
    v3 = next_version(v2, correction_note="Исправлена дата")
    late.deliver(delivery(v3, Event.CORRECTED))
    late.deliver(delivery(killed(v3), Event.KILLED))
    subjects = Counter(m["Subject"] for m in smtp.messages)
    assert subjects == {
        v1.headline: len(READERS),
        "Исправление: Обмен завершён": len(READERS),
        "Материал отозван редакцией": len(READERS),
    }
    assert "late@example.org" not in smtp.recipients()


def test_a_refused_recipient_fails_alone(smtp: SmtpServer, db_settings: Settings) -> None:
    smtp.refuse(READERS[2])
    receipt = outlet_for(smtp, db_settings).deliver(delivery(make_article(), Event.PUBLISHED))
    assert receipt.data["sent"] == len(READERS) - 1
    assert receipt.data["failed"] == 1


def test_a_wrong_password_pauses_the_outlet(smtp: SmtpServer, db_settings: Settings) -> None:
    settings = db_settings.replace(secrets={"PRESSROOM_SECRET_SMTP": "wrong"})
    with pytest.raises(OutletRefusedError, match="refused the login"):
        outlet_for(smtp, settings).deliver(delivery(make_article(), Event.PUBLISHED))
    assert smtp.received == []


def test_without_starttls_the_server_takes_nothing(smtp: SmtpServer, db_settings: Settings) -> None:
    with pytest.raises(OptionsError, match="never sent without TLS"):
        outlet_for(smtp, db_settings, security="none")
    plain = outlet_for(smtp, db_settings, security="none", username=None, password_env=None)
    with pytest.raises(OutletRefusedError, match="530"):
        plain.deliver(delivery(make_article(), Event.PUBLISHED))
    assert smtp.received == []


def test_recipients_file_is_read_when_the_send_starts(
    smtp: SmtpServer, db_settings: Settings, tmp_path: Path
) -> None:
    listing = tmp_path / "readers.txt"
    listing.write_text("# readers\na@example.org\n\nb@example.org  # VIP\n", encoding="utf-8")
    outlet = outlet_for(smtp, db_settings, recipients=[], recipients_file=str(listing))
    listing.write_text("a@example.org\nb@example.org\nc@example.org\n", encoding="utf-8")
    outlet.deliver(delivery(make_article(), Event.PUBLISHED))
    assert sorted(smtp.recipients()) == ["a@example.org", "b@example.org", "c@example.org"]


CRASHING_WORKER = """
from pressroom_shared.article import Event
from pressroom_shared.config import Settings
from pressroom_shared.outlets_config import OutletConfig
from pressroom_workers.outlets.email import EmailOutlet
from tests.unit.test_email_outlet import delivery, make_article
settings = Settings(database_url={db!r}, http_timeout_seconds=60.0,
                    secrets={{"PRESSROOM_SECRET_SMTP": "s3cret"}})
outlet = EmailOutlet(OutletConfig("letters", "email", {options!r}), settings)
outlet.deliver(delivery(make_article(), Event.PUBLISHED, attempt=1))
"""


def test_a_worker_killed_mid_newsletter_resumes_and_mails_nobody_twice(
    smtp: SmtpServer, db_settings: Settings
) -> None:
    smtp.hold_after(4)  # the 5th message hangs: the worker is killed while sending it
    script = CRASHING_WORKER.format(db=db_settings.database_url, options=options_for(smtp))
    worker = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)], cwd=REPO, start_new_session=True
    )
    try:
        assert smtp.held.wait(30), "the worker never reached the 5th recipient"
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    smtp.hold_after(10**6)
    smtp.release.set()
    assert len(smtp.received) == 4
    # The step runs again (the lease expired): attempt 2 takes over.
    receipt = outlet_for(smtp, db_settings).deliver(
        delivery(make_article(), Event.PUBLISHED, attempt=2)
    )
    counts = Counter(smtp.recipients())
    assert max(counts.values()) == 1, counts
    assert len(counts) == len(READERS) - 1  # the 5th: interrupted, unknown, not sent again
    assert receipt.data == {
        "kind": "issue",
        "recipients": len(READERS),
        "sent": len(READERS) - 1,
        "failed": 0,
        "unknown": 1,
    }
    sends = SendLog(db_settings, "letters").sends(
        delivery(make_article(), Event.PUBLISHED).id, "issue"
    )
    assert [s.recipient for s in sends if s.state == "unknown"] == [READERS[4]]


def test_a_long_send_hands_over_after_the_deadline_and_resumes(
    smtp: SmtpServer, db_settings: Settings
) -> None:
    settings = db_settings.replace(delivery_deadline_seconds=0.2)
    smtp.data_delay = 0.1
    outlet = outlet_for(smtp, settings, batch_size=2)
    d = delivery(make_article(), Event.PUBLISHED)
    runs = 0
    while True:
        runs += 1
        try:
            receipt = outlet.deliver(d)
            break
        except MoreToSendError:
            assert runs < 10
    assert runs > 1
    assert receipt.data["sent"] == len(READERS)
    assert Counter(smtp.recipients()) == dict.fromkeys(READERS, 1)
