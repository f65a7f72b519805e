"""Static site outlet: article pages, RSS and Atom feeds and an index in a local folder.

Layout of the folder (served as is by any web server at `base_url`):

    articles/<slug>.html   one page per article (a tombstone once killed)
    feed.rss, feed.atom    the newest FEED_LIMIT live articles
    index.html             every live article, newest first
    manifest.json          the outlet's own state: article id -> version, slug, feed entry

Several worker threads and processes may deliver at once, so every read-modify-write of the
folder happens under an exclusive flock on `.manifest.lock`, and every file is replaced
atomically (temp file in the same folder, fsync, rename): a reader never sees half a page.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import jinja2
from feedgen.feed import FeedGenerator

from pressroom_shared.article import Article, Event, PubStatus
from pressroom_shared.config import Settings
from pressroom_shared.outlet_options import REQUIRED, http_url, option, parse_options
from pressroom_shared.outlets_config import OutletConfig
from pressroom_shared.plugins import (
    Delivery,
    PermanentError,
    Receipt,
    RenderContext,
    TransientError,
)
from pressroom_shared.timeutil import isoformat
from pressroom_workers.renderers.web_page import WebPageRenderer, readable_time

MANIFEST = "manifest.json"
LOCK_FILE = ".manifest.lock"
MANIFEST_FORMAT = 1
FEED_LIMIT = 50
# Bodies of entries this far below the top of the feed are dropped from the manifest so it
# grows by a few hundred bytes per article, not by whole articles; one of them re-entering the
# feed (after kills above it) is listed with its summary only. The manifest is read and
# rewritten on every delivery: at 4 × FEED_LIMIT bodies that was ~1.5 MB each time and the
# site outlet fell behind at ~10 stories/s (bench/intake_and_delivery.py).
KEEP_CONTENT_FOR = FEED_LIMIT + 25
# index.html lists the newest live articles; an archive by rubric is the outlet's later work.
INDEX_LIMIT = 200
LOCK_TIMEOUT_SECONDS = 60.0
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,199}$")
_TEMP_PREFIX = ".tmp-"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_INDEX_TEMPLATE = """\
<!DOCTYPE html>
<html lang="{{ lang }}">
<head>
<meta charset="utf-8">
<link rel="icon" href="data:,">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ site_name }}</title>
<link rel="alternate" type="application/rss+xml" title="{{ site_name }} (RSS)" href="feed.rss">
<link rel="alternate" type="application/atom+xml" title="{{ site_name }} (Atom)" href="feed.atom">
<style>
body{margin:0 auto;max-width:40rem;padding:0 1rem;font:18px/1.5 Georgia,serif;color:#1a1a1a}
ol{list-style:none;padding:0}li{margin:0 0 1rem}a{color:#0645ad}
.meta{display:block;font:.85rem/1.4 system-ui,sans-serif;color:#555}
</style>
</head>
<body>
<h1>{{ site_name }}</h1>
<ol>
{% for item in items %}
<li lang="{{ item.language }}"><a href="{{ item.href }}">{{ item.title }}</a>
<span class="meta"><time datetime="{{ item.published }}">{{ item.published_readable }}</time>
{%- if item.rubric %} · {{ item.rubric }}{% endif %}</span></li>
{% endfor %}
</ol>
</body>
</html>
"""

_MOVED_TEMPLATE = """\
<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<link rel="icon" href="data:,">
<meta name="robots" content="noindex">
<meta http-equiv="refresh" content="0; url={{ href }}">
<link rel="canonical" href="{{ url }}">
<title>{{ url }}</title>
</head>
<body><p><a href="{{ href }}">{{ url }}</a></p></body>
</html>
"""

_templates = jinja2.Environment(
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so readers see the old file or the new one, never a mix."""
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=_TEMP_PREFIX, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp makes 0600 files, which the web server serving the folder could not read.
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the directory entry itself reaches the disk.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    # Comparing naive with aware datetimes raises; stored times are UTC when naive.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class StaticSiteOptions:
    path: Path = option(REQUIRED, "Folder the pages and feeds are written to.")
    base_url: str | None = option(
        None, "The pages' own address (default PRESSROOM_SITE_URL).", check=http_url
    )


class StaticSiteOutlet:
    type_name: ClassVar[str] = "static_site"
    requires: ClassVar[frozenset[str]] = frozenset({"web_page", "feed_entry"})

    Options: ClassVar[type[StaticSiteOptions]] = StaticSiteOptions

    def __init__(self, config: OutletConfig, settings: Settings) -> None:
        options = parse_options(StaticSiteOptions, config.name, config.options, settings)
        self.name = config.name
        self.root = options.path
        self.base_url = (options.base_url or settings.site_url).rstrip("/")
        self.publisher_name = settings.publisher_name

    # -- delivery -------------------------------------------------------------------------------

    def deliver(self, delivery: Delivery) -> Receipt:
        article = delivery.article
        if not _SLUG.match(article.slug):
            raise PermanentError(f"slug {article.slug!r} is not safe as a file name")
        page_path = f"articles/{article.slug}.html"
        live = delivery.event is not Event.KILLED and article.pubstatus is PubStatus.USABLE
        page = self._page(delivery, live)
        entry = self._feed_entry(delivery) if live else None
        if entry is not None:
            # The feeds list this site's copy, wherever the renderer's context pointed.
            entry["url"] = f"{self.base_url}/{page_path}"

        (self.root / "articles").mkdir(parents=True, exist_ok=True)
        with self._locked():
            self._remove_debris()
            manifest = self._read_manifest()
            records: dict[str, dict[str, Any]] = manifest["articles"]
            previous = records.get(article.id)
            if previous is not None:
                skipped = self._skip_reason(previous, article, live)
                if skipped:
                    return Receipt(
                        skipped,
                        {"path": previous["path"], "version": previous["version"], "skipped": True},
                    )
            self._check_path_owner(records, article.id, page_path)

            write_atomic(self.root / page_path, page.encode("utf-8"))
            aliases = self._aliases(previous, page_path)
            for alias in aliases:
                write_atomic(self.root / alias, self._moved_page(page_path).encode("utf-8"))
            for other_id, record in records.items():
                if other_id != article.id and page_path in record.get("aliases", []):
                    record["aliases"].remove(page_path)

            records[article.id] = {
                "version": article.version,
                "slug": article.slug,
                "path": page_path,
                "aliases": aliases,
                "live": live,
                "version_created": isoformat(article.version_created),
                "entry": entry,
            }
            live_entries = self._live_entries(records)
            self._trim_content(live_entries)
            updated = max(
                (_parse_time(r["version_created"]) for r in records.values()), default=_EPOCH
            )
            feed_entries = live_entries[:FEED_LIMIT]
            write_atomic(self.root / "feed.rss", self._feed(feed_entries, updated, "rss"))
            write_atomic(self.root / "feed.atom", self._feed(feed_entries, updated, "atom"))
            write_atomic(self.root / "index.html", self._index(records, live_entries))
            write_atomic(self.root / MANIFEST, _dump_manifest(manifest))

        if live:
            detail = f"published {page_path} (v{article.version})"
        else:
            detail = f"withdrew {page_path} (v{article.version}): tombstone, out of feeds and index"
        return Receipt(detail, {"path": page_path, "version": article.version})

    @staticmethod
    def _skip_reason(previous: Mapping[str, Any], article: Article, live: bool) -> str | None:
        if previous["version"] > article.version:
            return f"skipped v{article.version}: v{previous['version']} is already on the site"
        # A kill and a publication of the same version can race; the kill must win.
        if previous["version"] == article.version and live and not previous["live"]:
            return f"skipped v{article.version}: that version was already withdrawn"
        return None

    def _page(self, delivery: Delivery, live: bool) -> str:
        rendition = delivery.renditions.get("web_page")
        if live or (rendition is not None and delivery.article.pubstatus is PubStatus.CANCELED):
            if rendition is None:
                raise PermanentError("static_site needs the web_page rendition")
            return rendition.content
        # Killed while the rendition still shows the article: never leave its text online.
        tombstone = dataclasses.replace(delivery.article, pubstatus=PubStatus.CANCELED)
        context = RenderContext(site_url=self.base_url, publisher_name=self.publisher_name)
        return WebPageRenderer().render(tombstone, context).content

    @staticmethod
    def _feed_entry(delivery: Delivery) -> dict[str, Any]:
        rendition = delivery.renditions.get("feed_entry")
        if rendition is None:
            raise PermanentError("static_site needs the feed_entry rendition")
        try:
            entry = json.loads(rendition.content)
        except ValueError as exc:
            raise PermanentError(f"feed_entry rendition is not JSON: {exc}") from exc
        if not isinstance(entry, dict) or not {"id", "url", "title", "published"} <= entry.keys():
            raise PermanentError("feed_entry rendition lacks id, url, title or published")
        return entry

    @staticmethod
    def _check_path_owner(records: Mapping[str, Any], article_id: str, page_path: str) -> None:
        for other_id, record in records.items():
            if other_id != article_id and record["path"] == page_path:
                raise PermanentError(
                    f"{page_path} already belongs to article {other_id}; slugs must be unique"
                )

    @staticmethod
    def _aliases(previous: Mapping[str, Any] | None, page_path: str) -> list[str]:
        """Earlier paths of the article, which now point readers to the current one."""
        if previous is None:
            return []
        earlier = [*previous.get("aliases", []), previous["path"]]
        return sorted({p for p in earlier if p != page_path})

    def _moved_page(self, page_path: str) -> str:
        # Aliases live next to the page, in articles/, so the bare file name is the right href.
        return _templates.from_string(_MOVED_TEMPLATE).render(
            href=page_path.rsplit("/", 1)[-1], url=f"{self.base_url}/{page_path}"
        )

    # -- feeds and index ------------------------------------------------------------------------

    @staticmethod
    def _live_entries(records: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
        entries = [r["entry"] for r in records.values() if r["live"] and r["entry"] is not None]
        entries.sort(key=lambda e: (_parse_time(e["published"]), e["id"]), reverse=True)
        return entries

    @staticmethod
    def _trim_content(live_entries: list[dict[str, Any]]) -> None:
        for entry in live_entries[KEEP_CONTENT_FOR:]:
            entry.pop("content_html", None)

    def _feed(self, entries: list[dict[str, Any]], updated: datetime, kind: str) -> bytes:
        fg = FeedGenerator()
        fg.load_extension("dc", atom=False, rss=True)
        fg.id(f"urn:pressroom:feed:{self.name}")
        fg.title(self.publisher_name)
        fg.subtitle(f"{self.publisher_name}: latest articles")
        fg.author({"name": self.publisher_name})
        # feedgen takes the RSS channel <link> from the last link set: self first, site last.
        fg.link(href=f"{self.base_url}/feed.{kind}", rel="self")
        fg.link(href=f"{self.base_url}/", rel="alternate")
        fg.generator("pressroom")
        # Pinned to the newest change so that re-delivering the same version rewrites the
        # same bytes (feedgen would stamp "now").
        fg.updated(updated)
        for item in entries:
            fe = fg.add_entry(order="append")
            fe.guid(item["id"], permalink=False)
            fe.title(item["title"])
            fe.link(href=item["url"], rel="alternate")
            # Without a non-empty summary feedgen puts the body into RSS <description> and
            # drops content:encoded.
            fe.summary(item.get("summary") or item["title"])
            if item.get("content_html"):
                fe.content(item["content_html"], type="html")
            fe.published(_parse_time(item["published"]))
            fe.updated(_parse_time(item.get("updated") or item["published"]))
            if item.get("author"):
                fe.author({"name": item["author"]})
                fe.dc.dc_creator(item["author"])
            for term in [item.get("rubric"), *item.get("tags", [])]:
                if term:
                    fe.category(term=term)
        data: bytes = fg.rss_str(pretty=True) if kind == "rss" else fg.atom_str(pretty=True)
        return data

    def _index(
        self, records: Mapping[str, Mapping[str, Any]], live_entries: list[dict[str, Any]]
    ) -> bytes:
        path_by_id = {r["entry"]["id"]: r["path"] for r in records.values() if r["entry"]}
        items = [
            {
                "title": e["title"],
                "href": path_by_id[e["id"]],
                "published": e["published"],
                "published_readable": readable_time(_parse_time(e["published"])),
                "rubric": e.get("rubric"),
                "language": e.get("language") or "",
            }
            for e in live_entries[:INDEX_LIMIT]
        ]
        html = _templates.from_string(_INDEX_TEMPLATE).render(
            lang=_main_language(items), site_name=self.publisher_name, items=items
        )
        return html.encode("utf-8")

    # -- state ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # flock locks belong to the open file description, so threads of one process that
        # each open the file exclude one another just as separate processes do.
        with open(self.root / LOCK_FILE, "a+b") as handle:
            deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
            pause = 0.005
            while True:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise TransientError(
                            f"{self.root} stayed locked for {LOCK_TIMEOUT_SECONDS:.0f}s"
                        ) from None
                    time.sleep(pause)
                    pause = min(pause * 2, 0.1)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _remove_debris(self) -> None:
        # Every write happens under the lock, so a temp file seen while holding it was left
        # by a writer that crashed between creating and renaming it.
        for folder in (self.root, self.root / "articles"):
            for leftover in folder.glob(f"{_TEMP_PREFIX}*"):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()

    def _read_manifest(self) -> dict[str, Any]:
        path = self.root / MANIFEST
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"format": MANIFEST_FORMAT, "articles": {}}
        except ValueError as exc:
            raise PermanentError(f"{path} is unreadable ({exc}); restore it from a backup") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
            raise PermanentError(f"{path} is not a format {MANIFEST_FORMAT} manifest")
        return manifest


def _dump_manifest(manifest: Mapping[str, Any]) -> bytes:
    return json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")


def _main_language(items: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for item in items:
        if item["language"]:
            counts[item["language"]] = counts.get(item["language"], 0) + 1
    if not counts:
        return "en"
    return min(counts, key=lambda lang: (-counts[lang], lang))
