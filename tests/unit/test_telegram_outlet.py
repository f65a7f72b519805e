"""The Telegram rendition and outlet, against a Bot API double on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from pressroom_intake.formats.plaintext import parse_plaintext
from pressroom_shared.article import Article, Event
from pressroom_shared.config import Settings
from pressroom_shared.db import make_engine
from pressroom_shared.migrate import upgrade
from pressroom_shared.outlet_options import OptionsError
from pressroom_shared.outlets_config import OutletConfig
from pressroom_shared.plugins import (
    Delivery,
    OutcomeUnknownError,
    OutletRefusedError,
    PermanentError,
    RenderContext,
    TransientError,
)
from pressroom_shared.sends import SENDING, SendLog
from pressroom_shared.timeutil import isoformat, utcnow
from pressroom_workers.outlets.telegram import TelegramOutlet
from pressroom_workers.renderers.telegram import TelegramRenderer, compose, utf16_len
from tests.support.articles import killed, make_article, make_english_article, next_version
from tests.support.bot_api import BotApi, BotReply, telegram_html_problems

REPO = Path(__file__).resolve().parents[2]
CONTEXT = RenderContext("http://127.0.0.1:8000/site", "Пресс-центр")
HOSTILE = [
    '</b><script>alert("x")</script>',
    "a < b && c > d; &amp; &lt; &#x27; &nbsp;",
    '<a href="javascript:alert(1)">клик</a>',
    "Ёлка 🎄🎉👍🏽 " * 40,
    "<b><i>не закрыто",
    "\u202eRTL override\u202c and \u200bzero width",
]


def seed_article() -> Article:
    parsed = parse_plaintext((REPO / "samples/seed-article.txt").read_text(encoding="utf-8"))
    assert parsed.body is not None
    return make_article(
        headline=parsed.fields["headline"], body_html=parsed.body.html, body_text=parsed.body.text
    )


def corpus() -> dict[str, Article]:
    ru = make_article()
    cases = {
        "seed": seed_article(),
        "ru": ru,
        "en": make_english_article(),
        "corrected": next_version(ru, correction_note='Исправлена дата <b>"3"</b> & время'),
        "killed": killed(ru),
        "one-endless-sentence": make_article(body_text="слово " * 3000),
        "emoji-wall": make_article(body_text="🎉" * 5000),
        "many-short-sentences": make_article(body_text="Да. " * 3000),
    }
    for n, hostile in enumerate(HOSTILE):
        cases[f"hostile-{n}"] = make_article(
            headline=hostile[:300], body_text=(hostile + " ") * 200, correction_note=hostile
        )
    return cases


@pytest.mark.parametrize(("case", "article"), sorted(corpus().items()))
def test_every_post_is_valid_bot_api_html_within_the_limit(case: str, article: Article) -> None:
    text = TelegramRenderer().render(article, CONTEXT).content
    assert telegram_html_problems(text) == []
    assert utf16_len(text) <= 4096
    assert "<script" not in text
    assert text.startswith("<b>")


def test_the_validator_catches_what_telegram_refuses() -> None:
    assert telegram_html_problems("<p>x</p>")
    assert telegram_html_problems("a < b")
    assert telegram_html_problems("<b>x")
    assert telegram_html_problems("&nbsp;")
    assert telegram_html_problems('<a href="x" onclick="y">z</a>')
    assert telegram_html_problems("😀" * 2049)  # 4098 UTF-16 units, 2049 characters


def test_a_long_story_is_cut_at_a_sentence_with_a_read_more_link() -> None:
    body = "\n\n".join(f"Абзац {n}. Второе предложение абзаца {n}." for n in range(400))
    text = compose(make_article(body_text=body), "https://news.example/a.html")
    assert text.endswith('<a href="https://news.example/a.html">Читать полностью →</a>')
    body_part = text.rsplit("\n\n", 1)[0]
    assert body_part.endswith(".")  # a whole sentence, never a torn word
    short = compose(make_article(), "https://news.example/a.html")
    assert short.endswith("На сайте →</a>")
    assert "<b>Обмен пленными: итоги стамбульских соглашений</b>" in short


def test_the_seed_article_post() -> None:
    text = compose(seed_article(), "https://news.example/a.html")
    assert text.startswith("<b>За последние дни тема обмена пленными")
    assert "Читать полностью →" in text or "На сайте →" in text


# -- the outlet --------------------------------------------------------------------------------


@pytest.fixture
def api() -> Iterator[BotApi]:
    with BotApi() as server:
        yield server


@pytest.fixture
def db_settings(tmp_path: Path) -> Settings:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'pressroom.db'}",
        http_timeout_seconds=2.0,
        delivery_deadline_seconds=1.0,
        secrets={"PRESSROOM_SECRET_TG": "123456:TEST-token"},
    )
    upgrade(make_engine(settings))
    return settings


def outlet_for(api: BotApi, settings: Settings, **options: object) -> TelegramOutlet:
    config = OutletConfig(
        "channel",
        "telegram",
        {"api_base": api.url, "token_env": "PRESSROOM_SECRET_TG", "chat_id": -100123, **options},
    )
    return TelegramOutlet(config, settings)


def delivery(
    article: Article, event: Event, previous: dict[str, object] | None = None, attempt: int = 1
) -> Delivery:
    return Delivery(
        id=f"dlv_{article.id}_v{article.version}",
        event=event,
        article=article,
        renditions={"telegram": TelegramRenderer().render(article, CONTEXT)},
        attempt=attempt,
        previous_receipt=previous or {},
    )


def test_publish_update_correct_kill_become_send_edit_edit_delete(
    api: BotApi, db_settings: Settings
) -> None:
    outlet = outlet_for(api, db_settings)
    v1 = make_article()
    first = outlet.deliver(delivery(v1, Event.PUBLISHED))
    message_id = first.data["message_id"]
    assert api.channel == {message_id: compose(v1, CONTEXT.article_url(v1))}
    v2 = next_version(v1, headline="Обмен пленными завершён")
    second = outlet.deliver(delivery(v2, Event.UPDATED, dict(first.data)))
    v3 = next_version(v2, correction_note="Исправлена дата")
    third = outlet.deliver(delivery(v3, Event.CORRECTED, dict(second.data)))
    assert "Исправлено: Исправлена дата" in api.channel[message_id]
    outlet.deliver(delivery(killed(v3), Event.KILLED, dict(third.data)))
    assert api.channel == {}
    assert api.methods() == ["sendMessage", "editMessageText", "editMessageText", "deleteMessage"]
    send = api.calls[0].payload
    assert send["chat_id"] == -100123
    assert send["parse_mode"] == "HTML"


def test_a_kill_past_the_delete_window_edits_the_post_into_a_retraction(
    api: BotApi, db_settings: Settings
) -> None:
    outlet = outlet_for(api, db_settings)
    v1 = make_article()
    receipt = outlet.deliver(delivery(v1, Event.PUBLISHED))
    old = {**receipt.data, "posted_at": isoformat(utcnow() - timedelta(hours=49))}
    result = outlet.deliver(delivery(killed(v1), Event.KILLED, old))
    assert result.data["retracted"] is True
    assert api.channel[receipt.data["message_id"]] == "<b>Материал отозван редакцией.</b>"
    assert api.methods()[-1] == "editMessageText"


def test_a_redelivery_does_not_post_twice(api: BotApi, db_settings: Settings) -> None:
    outlet = outlet_for(api, db_settings)
    d = delivery(make_article(), Event.PUBLISHED)
    assert outlet.deliver(d) == outlet.deliver(d)
    assert len(api.channel) == 1


def test_429_is_retried_after_the_bot_apis_retry_after(api: BotApi, db_settings: Settings) -> None:
    outlet = outlet_for(api, db_settings)
    d = delivery(make_article(), Event.PUBLISHED)
    api.script(BotReply.too_many(17))
    with pytest.raises(TransientError) as info:
        outlet.deliver(d)
    assert info.value.retry_after == 17
    outlet.deliver(Delivery(**{**d.__dict__, "attempt": 2}))
    assert len(api.channel) == 1


def test_400_is_permanent_with_the_bot_apis_description(api: BotApi, db_settings: Settings) -> None:
    api.script(BotReply.error(400, "Bad Request: can't parse entities: unclosed tag at 12"))
    with pytest.raises(PermanentError, match="can't parse entities: unclosed tag at 12"):
        outlet_for(api, db_settings).deliver(delivery(make_article(), Event.PUBLISHED))


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_pause_the_outlet_and_never_show_the_token(
    api: BotApi, db_settings: Settings, status: int
) -> None:
    api.script(BotReply.error(status, "Forbidden: bot was kicked from the channel chat"))
    with pytest.raises(OutletRefusedError) as info:
        outlet_for(api, db_settings).deliver(delivery(make_article(), Event.PUBLISHED))
    assert info.value.mode == "paused"
    assert "kicked" in str(info.value)


def test_a_wrong_token_is_refused_and_kept_out_of_errors(
    api: BotApi, db_settings: Settings
) -> None:
    outlet = outlet_for(api, db_settings.replace(secrets={"PRESSROOM_SECRET_TG": "9:wrong"}))
    with pytest.raises(OutletRefusedError, match="Unauthorized") as info:
        outlet.deliver(delivery(make_article(), Event.PUBLISHED))
    assert "9:wrong" not in str(info.value)


def test_5xx_is_transient_and_sends_again(api: BotApi, db_settings: Settings) -> None:
    outlet = outlet_for(api, db_settings)
    d = delivery(make_article(), Event.PUBLISHED)
    api.script(BotReply.error(502, "Bad Gateway"))
    with pytest.raises(TransientError, match="502"):
        outlet.deliver(d)
    outlet.deliver(Delivery(**{**d.__dict__, "attempt": 2}))
    assert len(api.channel) == 1


def test_a_timeout_is_unknown_not_a_second_post(api: BotApi, db_settings: Settings) -> None:
    outlet = outlet_for(api, db_settings)
    d = delivery(make_article(), Event.PUBLISHED)
    api.script(BotReply.slow(2.0))  # posts, then answers after the 1 s deadline
    with pytest.raises(OutcomeUnknownError, match="may or may not"):
        outlet.deliver(d)
    api.wait_for(lambda a: len(a.channel) == 1)


def test_an_attempt_interrupted_mid_send_is_never_sent_again_on_its_own(
    api: BotApi, db_settings: Settings
) -> None:
    outlet = outlet_for(api, db_settings)
    article = make_article()
    d = delivery(article, Event.PUBLISHED)
    # What a worker killed between "sending" and the answer leaves behind.
    log = SendLog(db_settings, "channel")
    log.freeze(d.id, "post", ["-100123"], article_id=article.id, version=1)
    log.mark(d.id, "post", "-100123", SENDING, attempt=1, expect=["pending"])
    with pytest.raises(OutcomeUnknownError):
        outlet.deliver(Delivery(**{**d.__dict__, "attempt": 2}))
    assert api.calls == []
    # An operator looked at the channel and retried: now it is sent.
    outlet.deliver(Delivery(**{**d.__dict__, "attempt": 3}))
    assert len(api.channel) == 1


def test_options_are_checked(db_settings: Settings) -> None:
    with pytest.raises(OptionsError, match="chat_id: is required") as info:
        TelegramOutlet(
            OutletConfig("t", "telegram", {"token": "1:x", "api_base": "ftp://x"}), db_settings
        )
    assert "api_base: must be an http(s) URL" in str(info.value)


def test_subheadings_are_bold_and_never_end_a_cut_post() -> None:
    article = make_article()
    text = compose(article, "https://news.example/a.html")
    assert "\n\n<b>Ход обмена по стамбульским договорённостям</b>\n\n" in text
    long_section = "Очень длинный абзац. " * 400
    cut = compose(
        make_article(
            body_html="<p>Начало.</p><h2>Раздел</h2><p>x</p>",
            body_text=f"Начало.\n\nРаздел\n\n{long_section}",
        ),
        "https://news.example/a.html",
    )
    assert "<b>Раздел</b>" in cut  # the section's first sentences follow it
    only_heading_fits = compose(
        make_article(
            body_html="<p>a</p><h2>Раздел</h2>",
            body_text="Начало.\n\nРаздел\n\n" + "слово" * 2000,
        ),
        "https://news.example/a.html",
    )
    assert "Раздел" not in only_heading_fits
    assert telegram_html_problems(only_heading_fits) == []
