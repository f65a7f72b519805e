"""Static site outlet: article pages, RSS and Atom feeds, an index and a sitemap in a folder.

Layout of the folder (served as is by any web server at `base_url`):

    articles/<slug>.html   one page per article (a tombstone once killed)
    feed.rss, feed.atom    the newest FEED_LIMIT live articles
    index.html             the newest INDEX_LIMIT live articles
    sitemap.xml            every live page; past `sitemap_page_size` URLs a sitemap index of
                           sitemap-<n>.xml pages (sitemaps.org)
    .state.sqlite          the outlet's own state: one row per article (SQLite, WAL)

A delivery costs the same on a site of a hundred articles and of a hundred thousand: it writes
its page (and moved-page pointers) and one row of the state, all inside one SQLite write
transaction, which is what serialises deliveries across threads and processes; nothing in it
reads or rewrites anything per article already published (the JSON manifest this replaces was
read, rewritten and fsynced whole on every delivery). The derived files, the index, the feeds
and the sitemap, are rebuilt from indexed queries at most once per `rebuild_interval`, under a
non-blocking flock so that one rebuild runs at a time and no delivery waits for one:

- a delivery that finds the last rebuild older than the interval rebuilds at once (a quiet site
  shows a story everywhere the moment it lands);
- otherwise it leaves the site dirty (a generation number in the state) and arms a timer in its
  own process for when the interval is up, the trailing rebuild that picks up the last change of
  a burst even when no delivery follows;
- a process can die with its timer pending, so the periodic maintenance also calls `flush()`
  (pressroom_shared.plugins.Flushable), which rebuilds a site left dirty. The timer keeps the
  lag within the interval; the maintenance makes the outcome not depend on any one process.

Every file is replaced atomically (temp file in the same folder, fsync, rename): a reader never
sees half a page.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import re
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from xml.sax.saxutils import escape

import jinja2
import structlog
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

log = structlog.get_logger(__name__)

STATE_FILE = ".state.sqlite"
REBUILD_LOCK = ".rebuild.lock"
# Held while a process creates or upgrades the state (see _open).
OPEN_LOCK = ".open.lock"
# The state this outlet kept before; imported once, then renamed aside (MIGRATED_SUFFIX).
MANIFEST = "manifest.json"
MANIFEST_LOCK = ".manifest.lock"
MANIFEST_FORMAT = 1
MIGRATED_SUFFIX = ".migrated"
FEED_LIMIT = 50
# Bodies of entries this far below the top of the feed are dropped from the state, so it grows
# by a few hundred bytes per article rather than by whole articles; one of them re-entering the
# feed (after kills above it) is listed with its summary only.
KEEP_CONTENT_FOR = FEED_LIMIT + 25
# index.html lists the newest live articles; an archive by rubric is the outlet's later work.
INDEX_LIMIT = 200
SITEMAP_MAX_URLS = 50_000  # per sitemap file, sitemaps.org's limit
SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
LOCK_TIMEOUT_SECONDS = 60.0
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,199}$")
_TEMP_PREFIX = ".tmp-"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INHERITED: list[sqlite3.Connection] = []

_SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    seq INTEGER PRIMARY KEY,            -- order of first delivery; places it in a sitemap page
    id TEXT NOT NULL UNIQUE,
    version INTEGER NOT NULL,
    slug TEXT NOT NULL,
    path TEXT NOT NULL UNIQUE,
    live INTEGER NOT NULL,
    version_created TEXT NOT NULL,
    version_created_ts REAL NOT NULL,
    entry_id TEXT,                      -- the feed entry, while live
    published_ts REAL,
    entry TEXT,                         -- its JSON, without content_html
    content_html TEXT,
    changed_gen INTEGER NOT NULL        -- generation of its last change, for the sitemap
);
CREATE INDEX IF NOT EXISTS articles_newest ON articles (published_ts DESC, entry_id DESC)
    WHERE live;
CREATE INDEX IF NOT EXISTS articles_with_content ON articles (published_ts, entry_id)
    WHERE content_html IS NOT NULL;
CREATE INDEX IF NOT EXISTS articles_created ON articles (version_created_ts);
CREATE INDEX IF NOT EXISTS articles_changed ON articles (changed_gen);
CREATE TABLE IF NOT EXISTS aliases (
    path TEXT PRIMARY KEY,              -- an earlier page path, now a pointer to the current one
    article_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS aliases_of ON aliases (article_id);
CREATE TABLE IF NOT EXISTS sitemap_pages (
    page INTEGER PRIMARY KEY,
    urls INTEGER NOT NULL,
    lastmod TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
"""

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

_URLSET_HEAD = f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="{SITEMAP_NS}">\n'
_INDEX_HEAD = f'<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex xmlns="{SITEMAP_NS}">\n'

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


def _not_negative(value: Any) -> str | None:
    return None if value >= 0 else f"must be 0 or more, got {value!r}"


def _sitemap_size(value: Any) -> str | None:
    if 1 <= value <= SITEMAP_MAX_URLS:
        return None
    return f"must be 1..{SITEMAP_MAX_URLS} (sitemaps.org's limit), got {value!r}"


@dataclass(frozen=True)
class StaticSiteOptions:
    path: Path = option(REQUIRED, "Folder the pages and feeds are written to.")
    base_url: str | None = option(
        None, "The pages' own address (default PRESSROOM_SITE_URL).", check=http_url
    )
    rebuild_interval: float = option(
        1.0,
        "Seconds between rebuilds of the index, feeds and sitemap (pages appear at once; "
        "0: after every delivery).",
        check=_not_negative,
    )
    sitemap_page_size: int = option(
        SITEMAP_MAX_URLS,
        "URLs per sitemap file; past that, sitemap.xml is an index of sitemap-<n>.xml pages.",
        check=_sitemap_size,
    )


@dataclass(frozen=True)
class _Snapshot:
    """What one rebuild reads from the state, in one read transaction."""

    generation: int
    built_generation: int
    newest: list[tuple[dict[str, Any], str]]  # (feed entry, page path), newest first
    updated: datetime
    pages: int
    page_size: int
    dirty_pages: dict[int, list[tuple[str, str]]]  # page -> [(path, lastmod)]
    known_pages: dict[int, tuple[int, str | None]]  # page -> (urls, lastmod), as last written


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
        self.rebuild_interval = options.rebuild_interval
        self.sitemap_page_size = options.sitemap_page_size
        self.rebuilds = 0  # by this instance; the tests and the benchmark read it
        # Built in the worker's parent process and used in its forked children: whatever is
        # per process (the timer, whether the state was opened) is keyed by the pid.
        self._pid = -1
        self._guard = threading.Lock()
        self._timer: threading.Timer | None = None
        self._opened = False
        self._local = threading.local()

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

        self._open()
        with self._connection() as db, self._write_transaction(db):
            previous = db.execute(
                "SELECT version, path, live, entry, content_html FROM articles WHERE id = ?",
                (article.id,),
            ).fetchone()
            if previous is not None:
                skipped = self._skip_reason(previous[0], bool(previous[2]), article, live)
                if skipped:
                    return Receipt(
                        skipped, {"path": previous[1], "version": previous[0], "skipped": True}
                    )
            owner = db.execute(
                "SELECT id FROM articles WHERE path = ? AND id != ?", (page_path, article.id)
            ).fetchone()
            if owner is not None:
                raise PermanentError(
                    f"{page_path} already belongs to article {owner[0]}; slugs must be unique"
                )

            write_atomic(self.root / page_path, page.encode("utf-8"))
            earlier = [r[0] for r in db.execute(_ALIASES_OF, (article.id,))]
            aliases = self._aliases(earlier, previous[1] if previous else None, page_path)
            for alias in aliases:
                write_atomic(self.root / alias, self._moved_page(page_path).encode("utf-8"))
            # The page now stands where another article's pointer stood.
            db.execute("DELETE FROM aliases WHERE path = ?", (page_path,))
            db.execute("DELETE FROM aliases WHERE article_id = ?", (article.id,))
            db.executemany(
                "INSERT INTO aliases (path, article_id) VALUES (?, ?)",
                [(alias, article.id) for alias in aliases],
            )

            content = entry.pop("content_html", None) if entry is not None else None
            entry_json = _dump(entry) if entry is not None else None
            # An identical redelivery leaves the derived files as they are.
            changed = previous is None or (
                (previous[1], bool(previous[2]), previous[3], previous[4])
                != (page_path, live, entry_json, content or None)
                or aliases != earlier
            )
            if changed:
                generation = _meta_int(db, "generation") + 1
                _set_meta(db, "generation", generation)
                version_created = article.version_created
                db.execute(
                    _UPSERT,
                    {
                        "id": article.id,
                        "version": article.version,
                        "slug": article.slug,
                        "path": page_path,
                        "live": int(live),
                        "version_created": isoformat(version_created),
                        "version_created_ts": version_created.timestamp(),
                        "entry_id": entry["id"] if entry is not None else None,
                        "published_ts": (
                            _parse_time(entry["published"]).timestamp()
                            if entry is not None
                            else None
                        ),
                        "entry": entry_json,
                        "content_html": content or None,
                        "changed_gen": generation,
                    },
                )
            elif previous is not None and previous[0] != article.version:
                db.execute(
                    "UPDATE articles SET version = ? WHERE id = ?", (article.version, article.id)
                )

        if changed:
            self._derived_files_are_stale()
        if live:
            detail = f"published {page_path} (v{article.version})"
        else:
            detail = f"withdrew {page_path} (v{article.version}): tombstone, out of feeds and index"
        return Receipt(detail, {"path": page_path, "version": article.version})

    @staticmethod
    def _skip_reason(
        previous_version: int, previous_live: bool, article: Article, live: bool
    ) -> str | None:
        if previous_version > article.version:
            return f"skipped v{article.version}: v{previous_version} is already on the site"
        # A kill and a publication of the same version can race; the kill must win.
        if previous_version == article.version and live and not previous_live:
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
    def _aliases(earlier: Sequence[str], previous_path: str | None, page_path: str) -> list[str]:
        """Earlier paths of the article, which now point readers to the current one."""
        if previous_path is None:
            return []
        return sorted({p for p in [*earlier, previous_path] if p != page_path})

    def _moved_page(self, page_path: str) -> str:
        # Aliases live next to the page, in articles/, so the bare file name is the right href.
        return _templates.from_string(_MOVED_TEMPLATE).render(
            href=page_path.rsplit("/", 1)[-1], url=f"{self.base_url}/{page_path}"
        )

    # -- what the rest of the code and the tests may read ---------------------------------------

    def record(self, article_id: str) -> dict[str, Any] | None:
        """The state's row for one article, as the manifest used to hold it (None if unknown)."""
        self._open()
        with self._connection() as db:
            row = db.execute(
                "SELECT version, slug, path, live, version_created, entry, content_html "
                "FROM articles WHERE id = ?",
                (article_id,),
            ).fetchone()
            if row is None:
                return None
            aliases = [r[0] for r in db.execute(_ALIASES_OF, (article_id,))]
        entry = _entry(row[5], row[6]) if row[5] is not None else None
        return {
            "version": row[0],
            "slug": row[1],
            "path": row[2],
            "aliases": aliases,
            "live": bool(row[3]),
            "version_created": row[4],
            "entry": entry,
        }

    def article_ids(self) -> set[str]:
        self._open()
        with self._connection() as db:
            return {r[0] for r in db.execute("SELECT id FROM articles")}

    # -- coalesced rebuilds of the index, feeds and sitemap -------------------------------------

    def flush(self) -> None:
        """Rebuild the derived files if a change is not in them yet and the interval is up;
        otherwise make sure a timer will. Called by the periodic maintenance (Flushable)."""
        if self.root.is_dir() and (self.root / STATE_FILE).exists():
            self._open()
            self._derived_files_are_stale(only_if_dirty=True)

    def rebuild(self) -> None:
        """Rebuild the derived files now, waiting for a rebuild under way to finish."""
        self._open()
        with self._file_lock(REBUILD_LOCK, wait=True):
            self._rebuild()

    def _derived_files_are_stale(self, *, only_if_dirty: bool = False) -> None:
        with self._connection() as db:
            generation = _meta_int(db, "generation")
            built = _meta_int(db, "built_generation")
            last = _meta_float(db, "last_rebuild_at")
        if only_if_dirty and generation <= built:
            return
        wait = last + self.rebuild_interval - time.time()
        if wait <= 0 and self._try_rebuild():
            return
        # Not yet due, or another rebuild is under way or just happened (and may have read the
        # state before this change): look again when the next one is due.
        self._arm(wait if wait > 0 else max(self.rebuild_interval, 0.05))

    def _try_rebuild(self) -> bool:
        """True when the derived files are current (a rebuild by this call or none needed);
        False when another rebuild is under way or one happened within the interval."""
        with self._file_lock(REBUILD_LOCK, wait=False) as locked:
            if not locked:
                return False
            with self._connection() as db:
                generation = _meta_int(db, "generation")
                built = _meta_int(db, "built_generation")
                last = _meta_float(db, "last_rebuild_at")
            if generation <= built:
                return True
            if time.time() < last + self.rebuild_interval:
                return False
            self._rebuild()
        # A delivery that committed while the rebuild read its snapshot is not in it.
        with self._connection() as db:
            if _meta_int(db, "generation") > _meta_int(db, "built_generation"):
                return False
        return True

    def _arm(self, delay: float) -> None:
        with self._per_process():
            if self._timer is not None and self._timer.is_alive():
                return
            timer = threading.Timer(delay, self._on_timer)
            timer.daemon = True  # a process may exit with it pending; flush() covers that
            timer.name = f"pressroom-site-{self.name}"
            self._timer = timer
            timer.start()

    def _on_timer(self) -> None:
        with self._per_process():
            self._timer = None
        try:
            self.flush()
        except Exception as exc:  # a thread of its own: nobody else would hear of it
            log.warning("site.rebuild_failed", outlet=self.name, error=str(exc))

    @contextlib.contextmanager
    def _per_process(self) -> Iterator[None]:
        if self._pid != os.getpid():
            # A forked child: the parent's lock may have been held at the fork and its timer
            # thread does not exist here.
            self._guard = threading.Lock()
            self._timer = None
            self._opened = False
            self._pid = os.getpid()
        with self._guard:
            yield

    def _rebuild(self) -> None:
        """Rewrite the index, the feeds and the dirty sitemap pages (the rebuild lock held)."""
        self._remove_debris(self.root)
        started = time.time()
        snapshot = self._read_snapshot()
        feed_entries = [entry for entry, _ in snapshot.newest[:FEED_LIMIT]]
        write_atomic(self.root / "feed.rss", self._feed(feed_entries, snapshot.updated, "rss"))
        write_atomic(self.root / "feed.atom", self._feed(feed_entries, snapshot.updated, "atom"))
        write_atomic(self.root / "index.html", self._index(snapshot.newest[:INDEX_LIMIT]))
        pages = self._write_sitemap(snapshot)
        boundary = (
            snapshot.newest[KEEP_CONTENT_FOR - 1][0]
            if len(snapshot.newest) >= (KEEP_CONTENT_FOR)
            else None
        )
        with self._connection() as db, self._write_transaction(db):
            db.executemany(
                "INSERT OR REPLACE INTO sitemap_pages (page, urls, lastmod) VALUES (?, ?, ?)",
                [(page, urls, lastmod) for page, (urls, lastmod) in pages.items()],
            )
            if snapshot.generation > _meta_int(db, "built_generation"):
                _set_meta(db, "built_generation", snapshot.generation)
            _set_meta(db, "last_rebuild_at", started)
            _set_meta(db, "sitemap_pages", snapshot.pages)
            _set_meta(db, "sitemap_page_size", snapshot.page_size)
            if boundary is not None:
                published = _parse_time(boundary["published"]).timestamp()
                db.execute(
                    "UPDATE articles SET content_html = NULL WHERE content_html IS NOT NULL "
                    "AND (published_ts < ? OR (published_ts = ? AND entry_id < ?))",
                    (published, published, boundary["id"]),
                )
        self.rebuilds += 1

    def _read_snapshot(self) -> _Snapshot:
        size = self.sitemap_page_size
        with self._connection() as db:
            db.execute("BEGIN")  # one consistent view for everything the rebuild writes
            try:
                generation = _meta_int(db, "generation")
                built = _meta_int(db, "built_generation")
                newest = [
                    (_entry(entry, content), path)
                    for entry, content, path in db.execute(
                        "SELECT entry, content_html, path FROM articles WHERE live "
                        "ORDER BY published_ts DESC, entry_id DESC LIMIT ?",
                        (max(INDEX_LIMIT, KEEP_CONTENT_FOR),),
                    )
                ]
                row = db.execute(
                    "SELECT version_created FROM articles ORDER BY version_created_ts DESC LIMIT 1"
                ).fetchone()
                updated = _parse_time(row[0]) if row else _EPOCH
                max_seq = db.execute("SELECT max(seq) FROM articles").fetchone()[0] or 0
                pages = max(1, (max_seq + size - 1) // size)
                written_pages = _meta_int(db, "sitemap_pages")
                everything = (
                    _meta_int(db, "sitemap_page_size") != size
                    or (written_pages <= 1 < pages)
                    or not (self.root / "sitemap.xml").exists()
                )
                if everything:
                    dirty = set(range(pages))
                else:
                    dirty = {
                        (seq - 1) // size
                        for (seq,) in db.execute(
                            "SELECT seq FROM articles WHERE changed_gen > ?", (built,)
                        )
                    }
                dirty_pages = {
                    page: list(
                        db.execute(
                            "SELECT path, version_created FROM articles "
                            "WHERE seq > ? AND seq <= ? AND live ORDER BY seq",
                            (page * size, (page + 1) * size),
                        )
                    )
                    for page in sorted(dirty)
                }
                known = {
                    page: (urls, lastmod)
                    for page, urls, lastmod in db.execute(
                        "SELECT page, urls, lastmod FROM sitemap_pages"
                    )
                }
            finally:
                db.execute("COMMIT")
        return _Snapshot(
            generation,
            built,
            newest,
            updated,
            pages,
            size,
            dirty_pages,
            known if not everything else {},
        )

    def _write_sitemap(self, snapshot: _Snapshot) -> dict[int, tuple[int, str | None]]:
        """Write the dirty sitemap pages, and the sitemap index when there are several."""
        written: dict[int, tuple[int, str | None]] = {}
        for page, urls in snapshot.dirty_pages.items():
            name = "sitemap.xml" if snapshot.pages == 1 else f"sitemap-{page + 1}.xml"
            write_atomic(self.root / name, self._urlset(urls))
            written[page] = (len(urls), max((lastmod for _, lastmod in urls), default=None))
        if snapshot.pages > 1:
            pages = {**snapshot.known_pages, **written}
            lines = [_INDEX_HEAD]
            for page in sorted(pages):
                urls_count, lastmod = pages[page]
                if urls_count == 0:
                    continue  # an empty urlset is not valid; every article on it was killed
                lines.append(f"<sitemap><loc>{escape(self.base_url)}/sitemap-{page + 1}.xml</loc>")
                if lastmod:
                    lines.append(f"<lastmod>{escape(lastmod)}</lastmod>")
                lines.append("</sitemap>\n")
            lines.append("</sitemapindex>\n")
            write_atomic(self.root / "sitemap.xml", "".join(lines).encode("utf-8"))
        return written

    def _urlset(self, urls: Sequence[tuple[str, str]]) -> bytes:
        base = escape(self.base_url)
        body = "".join(
            f"<url><loc>{base}/{escape(path)}</loc><lastmod>{escape(lastmod)}</lastmod></url>\n"
            for path, lastmod in urls
        )
        return f"{_URLSET_HEAD}{body}</urlset>\n".encode()

    # -- feeds and index ------------------------------------------------------------------------

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

    def _index(self, newest: list[tuple[dict[str, Any], str]]) -> bytes:
        items = [
            {
                "title": e["title"],
                "href": path,
                "published": e["published"],
                "published_readable": readable_time(_parse_time(e["published"])),
                "rubric": e.get("rubric"),
                "language": e.get("language") or "",
            }
            for e, path in newest
        ]
        html = _templates.from_string(_INDEX_TEMPLATE).render(
            lang=_main_language(items), site_name=self.publisher_name, items=items
        )
        return html.encode("utf-8")

    # -- state ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        try:
            yield self._db()
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise TransientError(f"{self.root / STATE_FILE}: {exc}") from exc
            raise

    def _db(self) -> sqlite3.Connection:
        # One connection per thread, kept: closing the last connection to a WAL database
        # checkpoints it, which on every delivery would cost more than the delivery itself.
        local = self._local
        db: sqlite3.Connection | None = getattr(local, "db", None)
        if db is not None and local.pid == os.getpid():
            return db
        if db is not None:
            # A forked child's copy of its parent's connection: never used, and never closed
            # either (closing could checkpoint the WAL under the parent's feet).
            _INHERITED.append(db)
        # The timeout is how long SQLite waits for another writer.
        db = sqlite3.connect(
            self.root / STATE_FILE, timeout=LOCK_TIMEOUT_SECONDS, isolation_level=None
        )
        # FULL: a delivery reported done is on the disk, as the fsynced manifest was.
        db.execute("PRAGMA synchronous = FULL")
        local.db, local.pid = db, os.getpid()
        return db

    @staticmethod
    @contextlib.contextmanager
    def _write_transaction(db: sqlite3.Connection) -> Iterator[None]:
        # IMMEDIATE takes the write lock before the first read, so a delivery's checks and
        # writes (its page files included) are one step for every other writer.
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    @contextlib.contextmanager
    def _file_lock(self, name: str, *, wait: bool) -> Iterator[bool]:
        # flock locks belong to the open file description, so threads of one process that
        # each open the file exclude one another just as separate processes do.
        with open(self.root / name, "a+b") as handle:
            locked = _flock(handle.fileno(), LOCK_TIMEOUT_SECONDS if wait else 0.0)
            if wait and not locked:
                raise TransientError(
                    f"{self.root / name} stayed locked for {LOCK_TIMEOUT_SECONDS}s"
                )
            try:
                yield locked
            finally:
                if locked:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _open(self) -> None:
        """Create or upgrade the state once per process: schema, manifest import, debris."""
        with self._per_process():
            if self._opened:
                return
            (self.root / "articles").mkdir(parents=True, exist_ok=True)
            # One opener at a time, across processes: turning a new file into WAL reads its
            # header and then writes it, and SQLite answers a second connection doing the same
            # with "database is locked" at once, without waiting (its busy handler is not called
            # while the connection already holds the read).
            with self._file_lock(OPEN_LOCK, wait=True), self._connection() as db:
                # Persistent in the file; readers (rebuilds) then never block the writer.
                db.execute("PRAGMA journal_mode = WAL")
                db.executescript(_SCHEMA)  # IF NOT EXISTS: every process may run it
                with self._write_transaction(db):
                    # Page writes happen only inside a write transaction, so a temp file seen
                    # while holding one was left by a writer that crashed before renaming it.
                    self._remove_debris(self.root / "articles")
                    manifest = self._migrate_manifest(db)
            if manifest is not None:
                # Only once its rows are committed: a crash before this leaves the manifest in
                # place and the state marked as migrated, and the next open just renames it.
                with contextlib.suppress(FileNotFoundError):  # another process renamed it
                    os.replace(manifest, manifest.with_name(MANIFEST + MIGRATED_SUFFIX))
            self._opened = True

    def _migrate_manifest(self, db: sqlite3.Connection) -> Path | None:
        """Import the JSON manifest of an existing site once; the path to rename aside."""
        path = self.root / MANIFEST
        if not path.exists():
            return None
        if _meta_int(db, "migrated") == 0:
            # Let a writer of the old kind finish the manifest it is writing.
            with self._file_lock(MANIFEST_LOCK, wait=True):
                self._import(db, _read_manifest(path)["articles"])
            _set_meta(db, "migrated", 1)
            log.info("site.manifest_migrated", outlet=self.name, path=str(path))
        return path

    @staticmethod
    def _import(db: sqlite3.Connection, records: Mapping[str, Mapping[str, Any]]) -> None:
        generation = _meta_int(db, "generation") + 1
        ordered = sorted(records.items(), key=lambda item: (item[1]["version_created"], item[0]))
        rows, aliases = [], []
        for article_id, record in ordered:
            entry = dict(record["entry"]) if record.get("entry") else None
            content = entry.pop("content_html", None) if entry is not None else None
            rows.append(
                {
                    "id": article_id,
                    "version": record["version"],
                    "slug": record["slug"],
                    "path": record["path"],
                    "live": int(bool(record["live"]) and entry is not None),
                    "version_created": record["version_created"],
                    "version_created_ts": _parse_time(record["version_created"]).timestamp(),
                    "entry_id": entry["id"] if entry is not None else None,
                    "published_ts": (
                        _parse_time(entry["published"]).timestamp() if entry is not None else None
                    ),
                    "entry": _dump(entry) if entry is not None else None,
                    "content_html": content or None,
                    "changed_gen": generation,
                }
            )
            aliases += [(alias, article_id) for alias in record.get("aliases", [])]
        db.executemany(_UPSERT, rows)
        db.executemany("INSERT OR REPLACE INTO aliases (path, article_id) VALUES (?, ?)", aliases)
        _set_meta(db, "generation", generation)

    @staticmethod
    def _remove_debris(folder: Path) -> None:
        for leftover in folder.glob(f"{_TEMP_PREFIX}*"):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


_ALIASES_OF = "SELECT path FROM aliases WHERE article_id = ? ORDER BY path"
_UPSERT = """
INSERT INTO articles (id, version, slug, path, live, version_created, version_created_ts,
                      entry_id, published_ts, entry, content_html, changed_gen)
VALUES (:id, :version, :slug, :path, :live, :version_created, :version_created_ts,
        :entry_id, :published_ts, :entry, :content_html, :changed_gen)
ON CONFLICT (id) DO UPDATE SET
    version = excluded.version, slug = excluded.slug, path = excluded.path,
    live = excluded.live, version_created = excluded.version_created,
    version_created_ts = excluded.version_created_ts, entry_id = excluded.entry_id,
    published_ts = excluded.published_ts, entry = excluded.entry,
    content_html = excluded.content_html, changed_gen = excluded.changed_gen
"""


def _meta_int(db: sqlite3.Connection, key: str) -> int:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return int(row[0]) if row else 0


def _meta_float(db: sqlite3.Connection, key: str) -> float:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return float(row[0]) if row else 0.0


def _set_meta(db: sqlite3.Connection, key: str, value: float) -> None:
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def _dump(entry: Mapping[str, Any]) -> str:
    return json.dumps(entry, ensure_ascii=False, sort_keys=True)


def _entry(entry_json: str, content_html: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = json.loads(entry_json)
    if content_html:
        entry["content_html"] = content_html
    return entry


def _flock(fd: int, timeout: float) -> bool:
    """Take an exclusive flock, waiting up to `timeout` seconds; False if it stayed taken."""
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.1)


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise PermanentError(f"{path} is unreadable ({exc}); restore it from a backup") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise PermanentError(f"{path} is not a format {MANIFEST_FORMAT} manifest")
    return manifest


def _main_language(items: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for item in items:
        if item["language"]:
            counts[item["language"]] = counts.get(item["language"], 0) + 1
    if not counts:
        return "en"
    return min(counts, key=lambda lang: (-counts[lang], lang))
