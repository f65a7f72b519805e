"""WebhookOutlet against a real HTTP server on 127.0.0.1 (tests/support/webhook_receiver.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from standardwebhooks import Webhook

from pressroom_shared.article import Article, Event
from pressroom_shared.config import Settings
from pressroom_shared.outlets_config import OutletConfig
from pressroom_shared.plugins import (
    Delivery,
    OutletGoneError,
    PermanentError,
    RenderContext,
    Rendition,
    TransientError,
)
from pressroom_workers.outlets.http import parse_retry_after
from pressroom_workers.outlets.webhook import WebhookOutlet
from pressroom_workers.renderers.ninjs import NinjsRenderer
from tests.support.articles import killed, make_article
from tests.support.webhook_receiver import (
    Reply,
    WebhookReceiver,
    new_secret,
    signature_matches,
)

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SETTINGS = Settings(http_timeout_seconds=5.0, allow_example_secrets=True)
CONTEXT = RenderContext(site_url="https://news.example.ru", publisher_name="Пресс-центр")


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as server:
        yield server


def make_outlet(url: str, **options: Any) -> WebhookOutlet:
    config = OutletConfig("partner", "webhook", {"url": url, "secret": SECRET, **options})
    return WebhookOutlet(config, SETTINGS)


@pytest.fixture
def outlet(receiver: WebhookReceiver) -> WebhookOutlet:
    return make_outlet(receiver.url)


def delivery(
    article: Article | None = None, event: Event = Event.PUBLISHED, attempt: int = 1
) -> Delivery:
    article = article or make_article()
    return Delivery(
        id=f"dlv_{article.id.replace('-', '')}v{article.version}",
        event=event,
        article=article,
        renditions={"ninjs": NinjsRenderer().render(article, CONTEXT)},
        attempt=attempt,
    )


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens there now: the connection is refused.
    return f"http://127.0.0.1:{port}/hooks"


# -- construction ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"url": "ftp://example.org/", "secret": SECRET}, "url: (must be an http|is required)"),
        ({"url": "example.org/hooks", "secret": SECRET}, "url: (must be an http|is required)"),
        ({"secret": SECRET}, "url: (must be an http|is required)"),
        ({"url": "https://example.org/hooks"}, "needs secret"),
        ({"url": "https://example.org/hooks", "secret": "MfKQ9r8GKYqrTwjU"}, "start with 'whsec_'"),
        ({"url": "https://example.org/hooks", "secret": "whsec_not base64!"}, "not base64"),
        ({"url": "https://example.org/hooks", "secret": "whsec_"}, "empty"),
        ({"url": "https://example.org/hooks", "secret": SECRET, "timeout": 0}, "timeout"),
        ({"url": "https://example.org/hooks", "secret": SECRET, "timeout": "5"}, "timeout"),
    ],
)
def test_bad_options_are_rejected(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        WebhookOutlet(OutletConfig("partner", "webhook", options), SETTINGS)
    assert "'partner'" in str(info.value)


def test_the_published_example_secret_is_refused_unless_allowed() -> None:
    config = OutletConfig("partner", "webhook", {"url": "https://example.org/h", "secret": SECRET})
    with pytest.raises(ValueError, match="published example") as info:
        WebhookOutlet(config, Settings())
    assert "'partner'" in str(info.value)
    assert "PRESSROOM_ALLOW_EXAMPLE_SECRETS" in str(info.value)
    assert WebhookOutlet(config, Settings(allow_example_secrets=True)).name == "partner"


def test_the_secret_can_come_from_a_pressroom_secret_variable(receiver: WebhookReceiver) -> None:
    own = new_secret()
    settings = Settings.from_env({"PRESSROOM_SECRET_PARTNER": own})
    config = OutletConfig(
        "partner", "webhook", {"url": receiver.url, "secret_env": "PRESSROOM_SECRET_PARTNER"}
    )
    WebhookOutlet(config, settings).deliver(delivery())
    [request] = receiver.requests
    assert signature_matches(own, request.headers, request.body)
    assert not signature_matches(SECRET, request.headers, request.body)


@pytest.mark.parametrize(
    ("options", "environ", "message"),
    [
        ({"secret_env": "PRESSROOM_SECRET_PARTNER"}, {}, "PRESSROOM_SECRET_PARTNER, which is not"),
        ({"secret_env": "PARTNER_SECRET"}, {"PARTNER_SECRET": SECRET}, "PRESSROOM_SECRET_\\*"),
        ({"secret_env": "PRESSROOM_SECRET_P", "secret": SECRET}, {}, "or secret_env"),
        ({"secret_env": "PRESSROOM_SECRET_P"}, {"PRESSROOM_SECRET_P": SECRET}, "published"),
    ],
)
def test_bad_secret_variables_are_rejected(
    options: dict[str, Any], environ: dict[str, str], message: str
) -> None:
    config = OutletConfig("partner", "webhook", {"url": "https://example.org/h", **options})
    with pytest.raises(ValueError, match=message) as info:
        WebhookOutlet(config, Settings.from_env(environ))
    assert "'partner'" in str(info.value)


def test_timeout_option_overrides_the_setting() -> None:
    assert make_outlet("https://example.org/hooks").timeout == 5.0
    assert make_outlet("https://example.org/hooks", timeout=2.5).timeout == 2.5


# -- the request ----------------------------------------------------------------------------------


def test_delivers_a_signed_standard_webhook(
    outlet: WebhookOutlet, receiver: WebhookReceiver
) -> None:
    article = make_article()
    before = int(time.time())
    receipt = outlet.deliver(delivery(article))

    assert receipt.detail == "HTTP 200"
    assert receipt.data == {"status": 200}
    [request] = receiver.requests
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == delivery(article).id
    assert "." not in request.headers["webhook-id"]
    assert before <= int(request.headers["webhook-timestamp"]) <= int(time.time())
    assert request.headers["webhook-signature"].startswith("v1,")
    # Verified by the library and by a plain hmac computation over the exact bytes received.
    assert receiver.verified_events() == [json.loads(request.body)]
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    signed = f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}.".encode()
    digest = hmac.new(key, signed + request.body, hashlib.sha256).digest()
    assert request.headers["webhook-signature"] == "v1," + base64.b64encode(digest).decode()


def test_body_is_compact_utf8_json_with_the_ninjs_document(
    outlet: WebhookOutlet, receiver: WebhookReceiver
) -> None:
    article = make_article()
    outlet.deliver(delivery(article))
    [request] = receiver.requests
    body = request.json()
    assert set(body) == {"type", "timestamp", "data"}
    assert body["type"] == "article.published"
    assert datetime.fromisoformat(body["timestamp"]).tzinfo is not None
    assert body["data"] == json.loads(NinjsRenderer().render(article, CONTEXT).content)
    assert body["data"]["uri"] == "urn:pressroom:article:a1b2c3d4-0001"
    # Raw UTF-8, not \u escapes, and no pretty-printing whitespace.
    assert "Обмен пленными".encode() in request.body
    assert b"\\u04" not in request.body
    assert b'", "' not in request.body
    assert int(request.headers["content-length"]) == len(request.body)


@pytest.mark.parametrize("event", list(Event))
def test_event_type_names(outlet: WebhookOutlet, receiver: WebhookReceiver, event: Event) -> None:
    article = killed(make_article()) if event is Event.KILLED else make_article()
    outlet.deliver(delivery(article, event))
    assert receiver.requests[0].json()["type"] == f"article.{event}"


def test_a_tampered_body_does_not_verify(outlet: WebhookOutlet, receiver: WebhookReceiver) -> None:
    outlet.deliver(delivery())
    [request] = receiver.requests
    tampered = request.body.replace(b"usable", b"canceled")
    assert not signature_matches(SECRET, request.headers, tampered)
    assert not signature_matches(
        "whsec_" + base64.b64encode(b"other key").decode(), request.headers, request.body
    )


def test_retries_keep_the_webhook_id(outlet: WebhookOutlet, receiver: WebhookReceiver) -> None:
    receiver.script(503, 500)
    with pytest.raises(TransientError):
        outlet.deliver(delivery(attempt=1))
    with pytest.raises(TransientError):
        outlet.deliver(delivery(attempt=2))
    outlet.deliver(delivery(attempt=3))
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert len(receiver.requests) == 3
    assert ids == {delivery().id}
    assert [r.status for r in receiver.requests] == [503, 500, 200]
    # Every attempt is signed afresh and verifies.
    assert len(receiver.verified_events()) == 3


# -- classification -------------------------------------------------------------------------------


def test_503_is_transient(outlet: WebhookOutlet, receiver: WebhookReceiver) -> None:
    receiver.script(503)
    with pytest.raises(TransientError, match="HTTP 503") as info:
        outlet.deliver(delivery())
    assert info.value.retry_after is None


def test_429_honours_retry_after_seconds(outlet: WebhookOutlet, receiver: WebhookReceiver) -> None:
    receiver.script(Reply(429, {"Retry-After": "7"}))
    with pytest.raises(TransientError, match="HTTP 429") as info:
        outlet.deliver(delivery())
    assert info.value.retry_after == 7


def test_retry_after_as_http_date(outlet: WebhookOutlet, receiver: WebhookReceiver) -> None:
    when = datetime.now(UTC) + timedelta(seconds=120)
    receiver.script(Reply(503, {"Retry-After": format_datetime(when, usegmt=True)}))
    with pytest.raises(TransientError) as info:
        outlet.deliver(delivery())
    assert info.value.retry_after is not None
    assert 110 <= info.value.retry_after <= 120


# Like Svix and Stripe: only a rejection of the content itself is final; a partner that is
# down, misconfigured or redirecting for a day is retried over the whole schedule.
@pytest.mark.parametrize(
    "status", [301, 302, 307, 308, 401, 403, 404, 405, 408, 409, 425, 429, 500, 502, 504, 599]
)
def test_every_other_status_is_retried(
    outlet: WebhookOutlet, receiver: WebhookReceiver, status: int
) -> None:
    receiver.script(Reply(status, {"Location": receiver.url + "/elsewhere"}))
    with pytest.raises(TransientError, match=f"HTTP {status}"):
        outlet.deliver(delivery())
    assert len(receiver.requests) == 1  # redirects are never followed


def test_410_disables_the_outlet(outlet: WebhookOutlet, receiver: WebhookReceiver) -> None:
    receiver.script(410)
    with pytest.raises(OutletGoneError, match="gone"):
        outlet.deliver(delivery())


@pytest.mark.parametrize("status", [400, 413, 422])
def test_content_rejections_are_permanent(
    outlet: WebhookOutlet, receiver: WebhookReceiver, status: int
) -> None:
    receiver.script(status)
    with pytest.raises(PermanentError, match=f"HTTP {status}"):
        outlet.deliver(delivery())


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_2xx_is_success(outlet: WebhookOutlet, receiver: WebhookReceiver, status: int) -> None:
    receiver.script(status)
    assert outlet.deliver(delivery()).data == {"status": status}


def test_connection_refused_is_transient() -> None:
    outlet = make_outlet(closed_port_url())
    with pytest.raises(TransientError, match="ConnectError"):
        outlet.deliver(delivery())


def test_read_timeout_is_transient(receiver: WebhookReceiver) -> None:
    outlet = make_outlet(receiver.url, timeout=0.3)
    receiver.script(Reply(200, delay=2.0))
    started = time.monotonic()
    with pytest.raises(TransientError, match="ReadTimeout"):
        outlet.deliver(delivery())
    assert time.monotonic() - started < 1.5
    # The request did arrive; resending is safe because the receiver dedupes on webhook-id.
    assert len(receiver.requests) == 1


def test_missing_or_broken_ninjs_is_permanent(
    outlet: WebhookOutlet, receiver: WebhookReceiver
) -> None:
    article = make_article()
    with pytest.raises(PermanentError, match="ninjs"):
        outlet.deliver(Delivery("dlv_1", Event.PUBLISHED, article, {}, 1))
    broken = {"ninjs": Rendition("ninjs", "application/json", "{")}
    with pytest.raises(PermanentError, match="not JSON"):
        outlet.deliver(Delivery("dlv_1", Event.PUBLISHED, article, broken, 1))
    assert receiver.requests == []


@pytest.mark.parametrize("bad_id", ["msg.1", "", "line\nbreak", "пробел"])
def test_unusable_delivery_id_is_permanent(outlet: WebhookOutlet, bad_id: str) -> None:
    good = delivery()
    with pytest.raises(PermanentError, match="webhook-id"):
        outlet.deliver(Delivery(bad_id, good.event, good.article, good.renditions, 1))


# -- Retry-After parsing --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("7", 7.0),
        (" 120 ", 120.0),
        ("soon", None),
        ("-5", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 60.0),
        ("Wed, 21 Oct 2015 07:26:00 GMT", 0.0),  # in the past: retry now
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 27, tzinfo=UTC)
    assert parse_retry_after(value, now=now) == expected


def test_library_and_receiver_agree_on_signatures() -> None:
    # The receiver's independent check accepts exactly what the reference library signs.
    body = '{"a":"ё"}'
    ts = datetime.now(UTC).replace(microsecond=0)
    signature = Webhook(SECRET).sign("msg_1", ts, body)
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(ts.timestamp())),
        "webhook-signature": signature,
    }
    assert signature_matches(SECRET, headers, body.encode())
    assert Webhook(SECRET).verify(body, headers) == {"a": "ё"}


def test_a_dripping_receiver_is_cut_at_the_total_deadline() -> None:
    """Each byte comes before the per-phase read timeout, so only a total deadline can end it."""
    with DrippingServer(interval=0.2) as url:
        outlet = WebhookOutlet(
            OutletConfig("partner", "webhook", {"url": url, "secret": SECRET, "timeout": 0.5}),
            SETTINGS.replace(delivery_deadline_seconds=1.5),
        )
        started = time.monotonic()
        with pytest.raises(TransientError, match="deadline"):
            outlet.deliver(delivery())
        elapsed = time.monotonic() - started
    assert 1.4 <= elapsed < 2.5, elapsed


class DrippingServer:
    """Reads a request, then answers one byte every `interval` seconds, forever."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> str:
        self._thread.start()
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/hooks"

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        try:
            connection, _ = self._listener.accept()
        except OSError:
            return
        with connection:
            connection.recv(65536)
            answer = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000
            for byte in answer:
                if self._stop.wait(self.interval):
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return
