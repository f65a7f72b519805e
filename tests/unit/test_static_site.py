"""StaticSiteOutlet against a real folder: pages, feeds, index, state, concurrency.

These tests build the outlet with `rebuild_interval = 0`, so every delivery rebuilds the index
and feeds as it lands; coalesced rebuilds, the sitemap and the state have tests of their own in
test_static_site_state.py.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest

from pressroom_shared.article import Article, Event, PubStatus
from pressroom_shared.config import Settings
from pressroom_shared.outlets_config import OutletConfig
from pressroom_shared.plugins import Delivery, PermanentError, RenderContext, Rendition
from pressroom_workers.outlets.static_site import FEED_LIMIT, StaticSiteOutlet
from pressroom_workers.renderers.feed_entry import FeedEntryRenderer
from pressroom_workers.renderers.web_page import WebPageRenderer
from tests.support.articles import killed, make_article, make_english_article, next_version
from tests.support.services import wait_until

BASE_URL = "http://127.0.0.1:8000/site"
CONTEXT = RenderContext(site_url=BASE_URL, publisher_name="Пресс-центр")
SETTINGS = Settings(publisher_name="Пресс-центр")
RU_PAGE = "articles/obmen-plennymi-itogi-stambulskikh-soglashenii.html"
RU_URN = "urn:pressroom:article:a1b2c3d4-0001"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return tmp_path / "site"


def make_outlet(site: Path | str, **options: Any) -> StaticSiteOutlet:
    config = OutletConfig(
        "site",
        "static_site",
        {"path": str(site), "base_url": BASE_URL, "rebuild_interval": 0, **options},
    )
    return StaticSiteOutlet(config, SETTINGS)


def deliver_concurrently(
    outlets: list[StaticSiteOutlet], articles: list[Article]
) -> list[BaseException]:
    """Each outlet delivers its share of the articles in a thread of its own, all at once;
    what any of them raised."""
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for article in articles[worker :: len(outlets)]:
                outlets[worker].deliver(delivery(article))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(len(outlets))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.fixture
def outlet(site: Path) -> StaticSiteOutlet:
    return make_outlet(site)


def delivery(article: Article, event: Event | None = None) -> Delivery:
    if event is None:
        event = Event.KILLED if article.pubstatus is PubStatus.CANCELED else Event.PUBLISHED
    renditions = {
        r.name: r.render(article, CONTEXT) for r in (WebPageRenderer(), FeedEntryRenderer())
    }
    return Delivery(
        id=f"dlv_{article.id}_{article.version}".replace("-", ""),
        event=event,
        article=article,
        renditions=renditions,
        attempt=1,
    )


def snapshot(site: Path) -> dict[str, bytes]:
    """Every published file; the outlet's own state (dotted files) is not published."""
    return {
        str(p.relative_to(site)): p.read_bytes()
        for p in sorted(site.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def parse_feed(path: Path) -> Any:
    feed = feedparser.parse(path.read_bytes())
    assert not feed.bozo, feed.get("bozo_exception")
    return feed


def record(outlet: StaticSiteOutlet, article_id: str) -> dict[str, Any]:
    found = outlet.record(article_id)
    assert found is not None, f"{article_id} is not in the state"
    return found


# -- construction ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "path: (is required|must be a path)"),
        ({"path": ""}, "path: (is required|must be a path)"),
        ({"path": "/tmp/x", "base_url": "ftp://example.org"}, "base_url"),
        ({"path": "/tmp/x", "base_url": "example.org/site"}, "base_url"),
    ],
)
def test_bad_options_are_rejected(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StaticSiteOutlet(OutletConfig("site", "static_site", options), SETTINGS)


def test_base_url_defaults_to_the_site_url(site: Path) -> None:
    outlet = StaticSiteOutlet(OutletConfig("site", "static_site", {"path": str(site)}), SETTINGS)
    assert outlet.base_url == SETTINGS.site_url


# -- publishing -----------------------------------------------------------------------------------


def test_publish_writes_page_feeds_index_sitemap_and_state(
    outlet: StaticSiteOutlet, site: Path
) -> None:
    article = make_article()
    receipt = outlet.deliver(delivery(article))

    assert receipt.data == {"path": RU_PAGE, "version": 1}
    assert "published" in receipt.detail
    assert (site / RU_PAGE).read_text(encoding="utf-8") == delivery(article).renditions[
        "web_page"
    ].content
    assert {"feed.rss", "feed.atom", "index.html", "sitemap.xml", ".state.sqlite"} <= set(
        os.listdir(site)
    )
    saved = record(outlet, article.id)
    assert saved["version"] == 1
    assert saved["slug"] == article.slug
    assert saved["live"] is True
    assert saved["entry"]["id"] == RU_URN
    index = (site / "index.html").read_text(encoding="utf-8")
    assert f'href="{RU_PAGE}"' in index
    assert article.headline in index
    assert '<html lang="ru">' in index


def test_rss_feed(outlet: StaticSiteOutlet, site: Path) -> None:
    article = make_article()
    outlet.deliver(delivery(article))
    feed = parse_feed(site / "feed.rss")
    assert feed.version == "rss20"
    assert feed.feed.title == "Пресс-центр"
    # feedgen takes the channel link from the last link set; it must be the site, not the feed.
    assert feed.feed.link == BASE_URL + "/"
    [entry] = feed.entries
    assert entry.id == RU_URN
    assert entry.guidislink is False
    assert entry.title == article.headline
    assert entry.link == f"{BASE_URL}/{RU_PAGE}"
    assert entry.author == "Виктория Любимова"  # from dc:creator
    assert entry.summary.startswith("За последние дни")
    assert "<h2>Ход обмена по стамбульским договорённостям</h2>" in entry.content[0].value
    assert entry.published_parsed[:5] == (2025, 5, 27, 2, 39)
    raw = (site / "feed.rss").read_text(encoding="utf-8")
    assert "<dc:creator>Виктория Любимова</dc:creator>" in raw
    assert "<content:encoded>" in raw
    assert 'isPermaLink="false"' in raw


def test_atom_feed(outlet: StaticSiteOutlet, site: Path) -> None:
    article = make_article()
    outlet.deliver(delivery(article))
    feed = parse_feed(site / "feed.atom")
    assert feed.version == "atom10"
    assert feed.feed.id == "urn:pressroom:feed:site"
    assert feed.feed.title == "Пресс-центр"
    [entry] = feed.entries
    assert entry.id == RU_URN
    assert entry.title == article.headline
    assert entry.link == f"{BASE_URL}/{RU_PAGE}"
    assert entry.author == "Виктория Любимова"
    assert entry.content[0].type == "text/html"
    assert "<h2>" in entry.content[0].value
    assert entry.summary.startswith("За последние дни")
    assert {t.term for t in entry.tags} == {
        "Новости СВО и мобилизации",
        "обмен пленными",
        "Белоруссия",
        "Стамбул",
    }


def test_update_replaces_page_and_feed_item(outlet: StaticSiteOutlet, site: Path) -> None:
    v1 = make_article()
    v2 = next_version(v1, headline="Обмен пленными: новые подробности")
    outlet.deliver(delivery(v1))
    receipt = outlet.deliver(delivery(v2, Event.UPDATED))
    assert receipt.data == {"path": RU_PAGE, "version": 2}
    assert "новые подробности" in (site / RU_PAGE).read_text(encoding="utf-8")
    for name in ("feed.rss", "feed.atom"):
        [entry] = parse_feed(site / name).entries
        assert entry.title == "Обмен пленными: новые подробности"
        assert entry.id == RU_URN
    assert record(outlet, v1.id)["version"] == 2


def test_redelivery_rewrites_identical_files(outlet: StaticSiteOutlet, site: Path) -> None:
    outlet.deliver(delivery(make_english_article()))
    d = delivery(make_article())
    first = outlet.deliver(d)
    before = snapshot(site)
    again = outlet.deliver(d)
    assert again == first
    assert snapshot(site) == before


def test_older_version_never_overwrites_a_newer_one(outlet: StaticSiteOutlet, site: Path) -> None:
    v1 = make_article()
    v2 = next_version(v1, headline="Версия два")
    outlet.deliver(delivery(v2, Event.UPDATED))
    before = snapshot(site)
    receipt = outlet.deliver(delivery(v1))
    assert "skipped v1" in receipt.detail
    assert "v2" in receipt.detail
    assert receipt.data["version"] == 2
    assert snapshot(site) == before


def test_kill_writes_tombstone_and_removes_from_feeds_and_index(
    outlet: StaticSiteOutlet, site: Path
) -> None:
    en = make_english_article()
    v1 = make_article()
    outlet.deliver(delivery(en))
    outlet.deliver(delivery(v1))
    receipt = outlet.deliver(delivery(killed(v1)))

    assert receipt.data == {"path": RU_PAGE, "version": 2}
    assert "withdrew" in receipt.detail
    page = (site / RU_PAGE).read_text(encoding="utf-8")
    assert "Материал снят с публикации" in page
    assert "За последние дни" not in page
    for name in ("feed.rss", "feed.atom"):
        assert [e.id for e in parse_feed(site / name).entries] == [
            "urn:pressroom:article:e5f6a7b8-0002"
        ]
    index = (site / "index.html").read_text(encoding="utf-8")
    assert RU_PAGE not in index
    assert en.headline in index
    saved = record(outlet, v1.id)
    assert saved["live"] is False
    assert saved["entry"] is None


def test_kill_of_a_still_usable_version_still_withdraws_the_text(
    outlet: StaticSiteOutlet, site: Path
) -> None:
    # The event says "killed" but the rendition shows the article: the text must go anyway.
    v1 = make_article()
    outlet.deliver(delivery(v1))
    outlet.deliver(delivery(next_version(v1), Event.KILLED))
    page = (site / RU_PAGE).read_text(encoding="utf-8")
    assert "Материал снят с публикации" in page
    assert "За последние дни" not in page
    assert parse_feed(site / "feed.rss").entries == []


def test_a_withdrawn_version_is_not_republished_by_a_late_duplicate(
    outlet: StaticSiteOutlet, site: Path
) -> None:
    v2 = next_version(make_article())
    outlet.deliver(delivery(v2, Event.KILLED))
    receipt = outlet.deliver(delivery(v2, Event.UPDATED))
    assert "already withdrawn" in receipt.detail
    assert "Материал снят с публикации" in (site / RU_PAGE).read_text(encoding="utf-8")


def test_feeds_hold_the_newest_50_and_the_index_all(outlet: StaticSiteOutlet, site: Path) -> None:
    base = make_english_article()
    total = FEED_LIMIT + 5
    for n in range(total):
        when = base.first_created + timedelta(hours=n)
        outlet.deliver(
            delivery(
                make_english_article(
                    id=f"art-{n:03d}",
                    slug=f"story-{n:03d}",
                    headline=f"Story {n}",
                    published_at=when,
                    first_created=when,
                    version_created=when,
                )
            )
        )
    for name in ("feed.rss", "feed.atom"):
        entries = parse_feed(site / name).entries
        assert len(entries) == FEED_LIMIT
        assert entries[0].title == f"Story {total - 1}"  # newest first
        assert entries[-1].title == f"Story {total - FEED_LIMIT}"
    index = (site / "index.html").read_text(encoding="utf-8")
    assert index.count("<li ") == total
    assert index.index("Story 54<") < index.index("Story 0<")


def test_slug_change_leaves_a_pointer_at_the_old_address(
    outlet: StaticSiteOutlet, site: Path
) -> None:
    v1 = make_english_article()
    v2 = next_version(v1, slug="cycle-lanes-approved")
    outlet.deliver(delivery(v1))
    receipt = outlet.deliver(delivery(v2, Event.UPDATED))
    assert receipt.data["path"] == "articles/cycle-lanes-approved.html"
    old = (site / "articles" / f"{v1.slug}.html").read_text(encoding="utf-8")
    assert 'content="0; url=cycle-lanes-approved.html"' in old
    assert record(outlet, v1.id)["aliases"] == [f"articles/{v1.slug}.html"]


def test_two_articles_cannot_share_a_slug(outlet: StaticSiteOutlet) -> None:
    outlet.deliver(delivery(make_article()))
    with pytest.raises(PermanentError, match="already belongs"):
        outlet.deliver(delivery(make_english_article(slug=make_article().slug)))


@pytest.mark.parametrize("slug", ["../escape", ".hidden", "a/b", "", "x" * 201])
def test_unsafe_slug_is_refused(outlet: StaticSiteOutlet, site: Path, slug: str) -> None:
    with pytest.raises(PermanentError, match="slug"):
        outlet.deliver(delivery(make_article(slug=slug)))
    assert not (site.parent / "escape.html").exists()


def test_missing_rendition_is_a_permanent_error(outlet: StaticSiteOutlet) -> None:
    article = make_article()
    page = WebPageRenderer().render(article, CONTEXT)
    bare = Delivery("dlv_1", Event.PUBLISHED, article, {"web_page": page}, attempt=1)
    with pytest.raises(PermanentError, match="feed_entry"):
        outlet.deliver(bare)
    broken = Rendition("feed_entry", "application/json", "{not json")
    with pytest.raises(PermanentError, match="not JSON"):
        outlet.deliver(
            Delivery("dlv_2", Event.PUBLISHED, article, {"web_page": page, "feed_entry": broken}, 1)
        )


# -- safety ---------------------------------------------------------------------------------------


def test_xss_in_headline_and_body_is_inert(outlet: StaticSiteOutlet, site: Path) -> None:
    headline = '<script>alert("h")</script><img src=x onerror=alert(1)>'
    # What the intake's sanitiser makes of hostile body text: escaped text, never live markup.
    body_html = "<p>&lt;script&gt;alert(1)&lt;/script&gt; и &lt;img src=x onerror=alert(2)&gt;</p>"
    article = make_article(headline=headline, body_html=body_html, body_text="<script>alert(1)")
    outlet.deliver(delivery(article))
    page = (site / RU_PAGE).read_text(encoding="utf-8")
    index = (site / "index.html").read_text(encoding="utf-8")
    for html in (page, index):
        assert "<script>alert" not in html
        assert "<img" not in html
    assert "&lt;script&gt;alert(&#34;h&#34;)&lt;/script&gt;" in page
    assert page.count("<script") == 1  # the JSON-LD block, and nothing else
    # In the feeds the headline is character data, and the parsed title is the plain text.
    for name in ("feed.rss", "feed.atom"):
        raw = (site / name).read_text(encoding="utf-8")
        assert "<script>" not in raw
        assert parse_feed(site / name).entries[0].title == headline


def test_writes_leave_no_temporary_files(outlet: StaticSiteOutlet, site: Path) -> None:
    v1 = make_article()
    outlet.deliver(delivery(v1))
    outlet.deliver(delivery(next_version(v1), Event.UPDATED))
    outlet.deliver(delivery(killed(next_version(v1))))
    names = [p.name for p in site.rglob("*")]
    assert not [n for n in names if n.startswith(".tmp-")], names
    assert oct((site / RU_PAGE).stat().st_mode & 0o777) == oct(0o644)


def test_a_failed_write_keeps_the_old_file_and_no_temp_file(
    outlet: StaticSiteOutlet, site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1 = make_article()
    outlet.deliver(delivery(v1))
    before = snapshot(site)

    def failing_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space"):
        outlet.deliver(delivery(next_version(v1, headline="Новый заголовок"), Event.UPDATED))
    monkeypatch.undo()
    assert snapshot(site) == before


def test_debris_of_a_crashed_writer_is_cleaned_up(outlet: StaticSiteOutlet, site: Path) -> None:
    outlet.deliver(delivery(make_article()))
    (site / "articles" / ".tmp-abc.part").write_bytes(b"half a page")
    (site / ".tmp-def.part").write_bytes(b"half a feed")
    # The crashed writer's successor: a new process opens the state (which sweeps articles/
    # once, under the write lock) and rebuilds (which sweeps the top folder, under its lock).
    make_outlet(site).deliver(delivery(make_english_article()))
    assert not list(site.rglob(".tmp-*"))


def test_concurrent_deliveries_lose_nothing(outlet: StaticSiteOutlet, site: Path) -> None:
    # Separate outlet instances, as in separate worker processes, all on one folder.
    outlets = [make_outlet(site) for _ in range(4)]
    articles = [
        make_english_article(
            id=f"c-{n:02d}", slug=f"concurrent-{n:02d}", headline=f"Concurrent {n}"
        )
        for n in range(24)
    ]
    assert not deliver_concurrently(outlets, articles)
    assert outlet.article_ids() == {a.id for a in articles}
    # A delivery that found another rebuild under way left the last ones to a timer.
    wait_until(
        lambda: len(parse_feed(site / "feed.atom").entries) == 24, 10, "the trailing rebuild"
    )
    assert (site / "index.html").read_text(encoding="utf-8").count("<li ") == 24


def _deliver_in_child(site: str, first: int) -> None:
    outlet = make_outlet(site)
    for n in range(first, first + 6):
        outlet.deliver(delivery(make_english_article(id=f"p-{n:02d}", slug=f"process-{n:02d}")))


def test_concurrent_processes_lose_nothing(site: Path) -> None:
    context = multiprocessing.get_context("fork")
    children = [
        context.Process(target=_deliver_in_child, args=(str(site), k * 6)) for k in range(3)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=60)
    assert [c.exitcode for c in children] == [0, 0, 0]
    outlet = make_outlet(site)
    assert len(outlet.article_ids()) == 18
    # A child may have exited with its trailing rebuild pending: the maintenance's flush (here
    # from another process, as the beat's sweep would) finishes it.
    outlet.flush()
    assert len(parse_feed(site / "feed.rss").entries) == 18
