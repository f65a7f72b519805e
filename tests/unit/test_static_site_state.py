"""The static site's own state and its coalesced rebuilds: a delivery costs the same however
many articles are published, the index, feeds and sitemap follow at a bounded rate and never
miss the last change, the sitemap splits into an index of pages, an old manifest is imported."""

from __future__ import annotations

import fcntl
import json
import math
import os
import sqlite3
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import feedparser
import pytest

from pressroom_shared.article import Article, Event
from pressroom_shared.plugins import Flushable, PermanentError
from pressroom_workers.outlets.static_site import (
    MANIFEST,
    MIGRATED_SUFFIX,
    OPEN_LOCK,
    STATE_FILE,
)
from pressroom_workers.renderers.feed_entry import FeedEntryRenderer
from pressroom_workers.tasks.maintenance import flush_outlets
from tests.support.articles import killed, make_english_article, next_version
from tests.support.services import wait_until
from tests.unit.test_static_site import (
    BASE_URL,
    CONTEXT,
    deliver_concurrently,
    delivery,
    make_outlet,
)

NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def story(n: int, **changes: Any) -> Article:
    when = make_english_article().first_created + timedelta(minutes=n)
    fields: dict[str, Any] = {
        "id": f"s-{n:05d}",
        "slug": f"story-{n:05d}",
        "headline": f"Story {n}",
        "published_at": when,
        "first_created": when,
        "version_created": when,
        **changes,
    }
    return make_english_article(**fields)


def feed_titles(site: Path) -> list[str]:
    feed = feedparser.parse((site / "feed.atom").read_bytes())
    assert not feed.bozo, feed.get("bozo_exception")
    return [e.title for e in feed.entries]


def parse_xml(path: Path) -> ElementTree.ElementTree:
    return ElementTree.parse(path)  # noqa: S314 (the outlet's own output, not untrusted input)


def urlset(path: Path) -> list[str]:
    root = parse_xml(path).getroot()
    assert root.tag == f"{NS}urlset"
    locs = []
    for url in root:
        assert url.tag == f"{NS}url"
        assert [child.tag for child in url] == [f"{NS}loc", f"{NS}lastmod"]
        loc, lastmod = (child.text or "" for child in url)
        assert loc.startswith(f"{BASE_URL}/articles/")
        # W3C datetime, as sitemaps.org asks.
        assert lastmod.endswith("Z")
        assert lastmod[:19] == lastmod[:19].strip()
        locs.append(loc)
    return locs


def sitemap_urls(site: Path) -> list[str]:
    """Every URL the sitemap lists, following the sitemap index when there is one."""
    root = parse_xml(site / "sitemap.xml").getroot()
    if root.tag == f"{NS}urlset":
        return urlset(site / "sitemap.xml")
    assert root.tag == f"{NS}sitemapindex"
    urls = []
    for entry in root:
        assert entry.tag == f"{NS}sitemap"
        loc = entry.findtext(f"{NS}loc") or ""
        assert loc.startswith(f"{BASE_URL}/sitemap-")
        assert entry.findtext(f"{NS}lastmod")
        urls += urlset(site / loc.rsplit("/", 1)[1])
    return urls


def page_url(article: Article) -> str:
    return f"{BASE_URL}/articles/{article.slug}.html"


# -- options ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rebuild_interval": -1}, "rebuild_interval"),
        ({"sitemap_page_size": 0}, "sitemap_page_size"),
        ({"sitemap_page_size": 50_001}, "sitemap_page_size"),
    ],
)
def test_bad_rebuild_options_are_rejected(
    tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make_outlet(tmp_path, **options)


def test_the_outlet_is_flushable_and_flush_is_harmless_on_an_empty_site(tmp_path: Path) -> None:
    outlet = make_outlet(tmp_path / "site", rebuild_interval=1.0)
    assert isinstance(outlet, Flushable)
    outlet.flush()
    assert not (tmp_path / "site").exists()


# -- coalescing ------------------------------------------------------------------------------------


def test_a_burst_is_rebuilt_a_few_times_and_the_last_story_is_not_left_out(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"
    interval = 0.4
    outlet = make_outlet(site, rebuild_interval=interval)
    started = time.monotonic()
    outlet.deliver(delivery(story(0)))
    # Quiet until now: the first story is everywhere at once.
    assert feed_titles(site) == ["Story 0"]
    assert outlet.rebuilds == 1
    burst = 40
    for n in range(1, burst):
        outlet.deliver(delivery(story(n)))
        # Every page appears at once, whatever the index and feeds are doing.
        assert (site / "articles" / f"story-{n:05d}.html").exists()
    elapsed = time.monotonic() - started
    assert outlet.record(f"s-{burst - 1:05d}") is not None
    # The trailing rebuild comes from the outlet's own timer: no further delivery, no flush.
    # (The rebuild writes the feeds, the index and the sitemap one after another: wait for all.)
    wait_until(
        lambda: (
            feed_titles(site)[:1] == [f"Story {burst - 1}"]
            and page_url(story(burst - 1)) in sitemap_urls(site)
        ),
        interval + 5,
        "the trailing rebuild",
    )
    index = (site / "index.html").read_text(encoding="utf-8")
    assert index.count("<li ") == burst
    waited = time.monotonic() - started
    assert outlet.rebuilds <= math.ceil(waited / interval) + 1, (outlet.rebuilds, elapsed)
    assert outlet.rebuilds < burst / 4


def test_rebuilds_stay_bounded_with_many_writers(tmp_path: Path) -> None:
    site = tmp_path / "site"
    interval = 0.3
    outlets = [make_outlet(site, rebuild_interval=interval) for _ in range(4)]
    articles = [story(n) for n in range(48)]
    started = time.monotonic()
    assert not deliver_concurrently(outlets, articles)
    wait_until(lambda: len(sitemap_urls(site)) == 48, interval + 5, "the trailing rebuild")
    wait_until(
        lambda: (site / "index.html").read_text(encoding="utf-8").count("<li ") == 48,
        interval + 5,
        "the index",
    )
    waited = time.monotonic() - started
    rebuilds = sum(o.rebuilds for o in outlets)
    assert rebuilds <= math.ceil(waited / interval) + 1, (rebuilds, waited)


def test_a_process_opening_a_new_site_waits_for_the_one_creating_it(tmp_path: Path) -> None:
    # Another worker's first delivery is creating the state: it holds the open lock and is
    # writing the new file. SQLite would answer this one "database is locked" at once, without
    # waiting, so it must wait its turn (in CI, one run of four racing first deliveries failed).
    site = tmp_path / "site"
    site.mkdir()
    outlet = make_outlet(site)
    errors: list[BaseException] = []

    def first_delivery() -> None:
        try:
            outlet.deliver(delivery(story(1)))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    with open(site / OPEN_LOCK, "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        creator = sqlite3.connect(site / STATE_FILE, isolation_level=None)
        creator.execute("BEGIN IMMEDIATE")
        creator.execute("CREATE TABLE being_created (x)")
        waiting = threading.Thread(target=first_delivery)
        waiting.start()
        waiting.join(0.5)
        assert not errors
        assert waiting.is_alive(), "the delivery should be waiting for the creator"
        creator.execute("ROLLBACK")
        creator.close()
        fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
    waiting.join(10)
    assert not errors
    assert outlet.article_ids() == {story(1).id}


def test_the_maintenance_flush_finishes_what_a_dead_process_left(tmp_path: Path) -> None:
    site = tmp_path / "site"
    interval = 0.2
    outlet = make_outlet(site, rebuild_interval=interval)
    outlet.deliver(delivery(story(0)))
    outlet.deliver(delivery(story(1)))  # within the interval: left to a timer
    timer = outlet._timer
    assert timer is not None
    timer.cancel()  # the process died with its timer pending
    time.sleep(interval * 2)
    assert feed_titles(site) == ["Story 0"]

    survivor = make_outlet(site, rebuild_interval=interval)  # in the maintenance worker
    flush_outlets({"site": survivor, "not-flushable": object()})
    assert feed_titles(site) == ["Story 1", "Story 0"]
    assert survivor.rebuilds == 1
    flush_outlets({"site": survivor})  # nothing left to do: nothing rewritten
    assert survivor.rebuilds == 1


def test_an_identical_redelivery_rebuilds_nothing(tmp_path: Path) -> None:
    outlet = make_outlet(tmp_path / "site")
    d = delivery(story(0))
    outlet.deliver(d)
    assert outlet.rebuilds == 1
    outlet.deliver(d)
    assert outlet.rebuilds == 1
    outlet.deliver(delivery(next_version(story(0), headline="Story 0, updated"), Event.UPDATED))
    assert outlet.rebuilds == 2


# -- sitemap ---------------------------------------------------------------------------------------


def test_the_sitemap_lists_every_live_page(tmp_path: Path) -> None:
    site = tmp_path / "site"
    outlet = make_outlet(site)
    articles = [story(n) for n in range(3)]
    for article in articles:
        outlet.deliver(delivery(article))
    assert sorted(sitemap_urls(site)) == sorted(page_url(a) for a in articles)
    outlet.deliver(delivery(killed(next_version(articles[1]))))
    assert sorted(sitemap_urls(site)) == sorted(page_url(a) for a in (articles[0], articles[2]))
    moved = next_version(articles[2], slug="moved-here")
    outlet.deliver(delivery(moved, Event.UPDATED))
    assert sorted(sitemap_urls(site)) == sorted([page_url(articles[0]), page_url(moved)])


def test_a_big_sitemap_becomes_an_index_of_pages_rewritten_only_where_they_change(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"
    outlet = make_outlet(site, sitemap_page_size=3)
    articles = [story(n) for n in range(3)]
    for article in articles:
        outlet.deliver(delivery(article))
    assert parse_xml(site / "sitemap.xml").getroot().tag == f"{NS}urlset"

    articles += [story(n) for n in range(3, 8)]
    for article in articles[3:]:
        outlet.deliver(delivery(article))
    root = parse_xml(site / "sitemap.xml").getroot()
    assert root.tag == f"{NS}sitemapindex"
    assert [e.findtext(f"{NS}loc") for e in root] == [
        f"{BASE_URL}/sitemap-{n}.xml" for n in (1, 2, 3)
    ]
    assert [len(urlset(site / f"sitemap-{n}.xml")) for n in (1, 2, 3)] == [3, 3, 2]
    assert sorted(sitemap_urls(site)) == sorted(page_url(a) for a in articles)

    # A new story lands on the last page; the full pages before it are not rewritten.
    first_page = (site / "sitemap-1.xml").stat().st_ino
    outlet.deliver(delivery(story(8)))
    assert (site / "sitemap-1.xml").stat().st_ino == first_page
    assert len(urlset(site / "sitemap-3.xml")) == 3
    # An update rewrites its own page only.
    second_page = (site / "sitemap-2.xml").stat().st_ino
    outlet.deliver(delivery(killed(next_version(articles[0]))))
    assert (site / "sitemap-1.xml").stat().st_ino != first_page
    assert (site / "sitemap-2.xml").stat().st_ino == second_page
    assert page_url(articles[0]) not in sitemap_urls(site)
    assert len(sitemap_urls(site)) == 8


def test_the_site_serves_the_sitemap_page_size_it_is_given_after_a_change(tmp_path: Path) -> None:
    site = tmp_path / "site"
    outlet = make_outlet(site, sitemap_page_size=2)
    for n in range(5):
        outlet.deliver(delivery(story(n)))
    assert parse_xml(site / "sitemap.xml").getroot().tag == f"{NS}sitemapindex"
    bigger = make_outlet(site, sitemap_page_size=50_000)
    bigger.rebuild()
    assert parse_xml(site / "sitemap.xml").getroot().tag == f"{NS}urlset"
    assert len(sitemap_urls(site)) == 5


# -- migration from manifest.json ------------------------------------------------------------------


def old_record(article: Article, *, aliases: list[str] | None = None) -> dict[str, Any]:
    entry = json.loads(FeedEntryRenderer().render(article, CONTEXT).content)
    return {
        "version": article.version,
        "slug": article.slug,
        "path": f"articles/{article.slug}.html",
        "aliases": aliases or [],
        "live": True,
        "version_created": entry["updated"],
        "entry": entry,
    }


def test_an_existing_manifest_is_imported_once_and_put_aside(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "articles").mkdir(parents=True)
    old = next_version(story(0), headline="Story 0, second version")
    other = story(1)
    gone = story(2)
    records = {
        old.id: old_record(old, aliases=["articles/first-slug.html"]),
        other.id: old_record(other),
        gone.id: {**old_record(gone), "live": False, "entry": None},
    }
    (site / MANIFEST).write_text(json.dumps({"format": 1, "articles": records}), encoding="utf-8")

    outlet = make_outlet(site)
    outlet.deliver(delivery(story(3)))

    assert not (site / MANIFEST).exists()
    assert (site / (MANIFEST + MIGRATED_SUFFIX)).exists()
    assert outlet.article_ids() == {old.id, other.id, gone.id, "s-00003"}
    saved = outlet.record(old.id)
    assert saved is not None
    assert saved["version"] == 2
    assert saved["aliases"] == ["articles/first-slug.html"]
    assert saved["entry"] == {**records[old.id]["entry"]}
    assert feed_titles(site) == ["Story 3", "Story 1", "Story 0, second version"]
    # What the manifest said still holds: no older version over a newer one, no slug taken.
    assert "skipped" in outlet.deliver(delivery(story(0))).detail
    with pytest.raises(PermanentError, match="already belongs"):
        outlet.deliver(delivery(story(9, slug=other.slug)))
    # Other processes, and later ones, find it migrated and import nothing twice.
    again = make_outlet(site)
    again.rebuild()
    assert len(again.article_ids()) == 4
    assert (site / STATE_FILE).exists()


def test_an_unreadable_manifest_is_a_permanent_error(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / MANIFEST).write_text("{not json", encoding="utf-8")
    with pytest.raises(PermanentError, match="unreadable"):
        make_outlet(site).deliver(delivery(story(0)))
    assert (site / MANIFEST).exists()
    os.remove(site / MANIFEST)
    make_outlet(site).deliver(delivery(story(0)))
