"""Cost of one static-site delivery with 100 and with 100,000 articles already published.

In process, against a real folder: the outlet is seeded with N published articles (their rows
bulk-inserted into its state through the outlet's own module, one small page file each, and one
rebuild so the index, feeds and sitemap are current), then ~200 new articles are delivered one
after another and each `deliver()` is timed. The renditions are made beforehand: what is timed
is the outlet's own work, page fsyncs and all. (The seeded articles' own page files are written
only with --seed-pages: neither implementation reads them, and this disk makes ~1,000 a second.)
With the default `rebuild_interval` (1 s) a few
of the deliveries also rebuild the index, feeds and sitemap; the others leave it to the trailing
rebuild, whose own cost is measured apart (`rebuild()`, 5 times).

The baseline, in the same run: the implementation this replaced (one manifest.json rewritten and
fsynced under a lock on every delivery), loaded from the main checkout by path when it still has
it (`--old`, default /work/main), seeded with the same articles as a manifest. Being slow by
design at 100,000, it gets fewer deliveries there (`--old-deliveries-big`).

    .venv/bin/python bench/static_site_cost.py [--deliveries 200] [--sizes 100,100000]

Prints per-delivery milliseconds (median, p95, max) per size and the ratio big/small, and writes
bench/results/static_site_cost.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.support.articles, the realistic sample articles

from pressroom_shared.article import Article, Event  # noqa: E402
from pressroom_shared.config import Settings  # noqa: E402
from pressroom_shared.outlets_config import OutletConfig  # noqa: E402
from pressroom_shared.plugins import Delivery, RenderContext  # noqa: E402
from pressroom_workers.outlets import static_site  # noqa: E402
from pressroom_workers.renderers.feed_entry import FeedEntryRenderer  # noqa: E402
from pressroom_workers.renderers.web_page import WebPageRenderer  # noqa: E402
from tests.support.articles import make_article  # noqa: E402

BASE_URL = "http://127.0.0.1:8000/site"
CONTEXT = RenderContext(site_url=BASE_URL, publisher_name="Пресс-центр")
SETTINGS = Settings(publisher_name="Пресс-центр")
RESULTS = ROOT / "bench" / "results" / "static_site_cost.json"
PLACEHOLDER_PAGE = b"<!DOCTYPE html><html><body><p>seeded</p></body></html>\n"


def article(n: int, prefix: str) -> Article:
    base = make_article()
    when = base.first_created + timedelta(seconds=n)
    return make_article(
        id=f"{prefix}-{n:07d}",
        slug=f"{prefix}-story-{n:07d}",
        headline=f"{base.content.headline} №{n}",
        published_at=when,
        first_created=when,
        version_created=when,
    )


def delivery(a: Article) -> Delivery:
    renditions = {r.name: r.render(a, CONTEXT) for r in (WebPageRenderer(), FeedEntryRenderer())}
    return Delivery(f"dlv_{a.id}", Event.PUBLISHED, a, renditions, attempt=1)


def seed_records(count: int) -> list[tuple[str, dict[str, Any]]]:
    """(id, manifest-shaped record) for `count` published articles, oldest first."""
    template = json.loads(FeedEntryRenderer().render(make_article(), CONTEXT).content)
    base = make_article().first_created - timedelta(days=400)
    records = []
    for n in range(count):
        when = (base + timedelta(seconds=n)).isoformat().replace("+00:00", "Z")
        path = f"articles/seed-{n:07d}.html"
        entry = {
            **template,
            "id": f"urn:pressroom:article:seed-{n:07d}",
            "url": f"{BASE_URL}/{path}",
            "title": f"{template['title']} №{n}",
            "published": when,
            "updated": when,
        }
        if n < count - static_site.KEEP_CONTENT_FOR:
            entry.pop("content_html")  # as both implementations trim the bodies below the top
        records.append(
            (
                f"seed-{n:07d}",
                {
                    "version": 1,
                    "slug": f"seed-{n:07d}",
                    "path": path,
                    "aliases": [],
                    "live": True,
                    "version_created": when,
                    "entry": entry,
                },
            )
        )
    return records


def seed_pages(site: Path, records: list[tuple[str, dict[str, Any]]]) -> None:
    (site / "articles").mkdir(parents=True, exist_ok=True)
    for _, record in records:
        (site / record["path"]).write_bytes(PLACEHOLDER_PAGE)


def seed_new(
    site: Path, records: list[tuple[str, dict[str, Any]]], pages: bool
) -> static_site.StaticSiteOutlet:
    outlet = static_site.StaticSiteOutlet(
        OutletConfig("site", "static_site", {"path": str(site), "base_url": BASE_URL}), SETTINGS
    )
    if pages:
        seed_pages(site, records)
    outlet._open()
    with outlet._connection() as db, outlet._write_transaction(db):
        # The importer of old manifests is the bulk insert: the same rows either way.
        outlet._import(db, dict(records))
    outlet.rebuild()
    return outlet


def seed_old(
    module: ModuleType, site: Path, records: list[tuple[str, dict[str, Any]]], pages: bool
) -> Any:
    site.mkdir(parents=True, exist_ok=True)
    if pages:
        seed_pages(site, records)
    manifest = {"format": module.MANIFEST_FORMAT, "articles": dict(records)}
    (site / module.MANIFEST).write_bytes(module._dump_manifest(manifest))
    return module.StaticSiteOutlet(
        OutletConfig("site", "static_site", {"path": str(site), "base_url": BASE_URL}), SETTINGS
    )


def timed(deliver: Callable[[Delivery], Any], deliveries: list[Delivery]) -> list[float]:
    times = []
    for d in deliveries:
        started = time.perf_counter()
        deliver(d)
        times.append((time.perf_counter() - started) * 1000)
    return times


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "deliveries": len(times),
        "median_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 2),
        "max_ms": round(ordered[-1], 2),
        "mean_ms": round(statistics.fmean(ordered), 2),
    }


def load_old(main: Path) -> ModuleType | None:
    path = main / "services/workers/src/pressroom_workers/outlets/static_site.py"
    if not path.exists() or "manifest.json" not in path.read_text(encoding="utf-8")[:2000]:
        return None
    spec = importlib.util.spec_from_file_location("old_static_site", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--deliveries", type=int, default=200)
    parser.add_argument("--sizes", default="100,100000")
    parser.add_argument("--old", type=Path, default=Path("/work/main"))
    parser.add_argument("--old-deliveries-big", type=int, default=10)
    parser.add_argument(
        "--seed-pages",
        action="store_true",
        help="also write a page file per seeded article (slow on this disk: ~1 ms each)",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    old = load_old(args.old)
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.system()}",
        "deliveries": args.deliveries,
        "page_files_seeded": args.seed_pages,
        "new": {},
        "old": {},
    }
    for size in sizes:
        records = seed_records(size)
        with tempfile.TemporaryDirectory(prefix="site-bench-", dir=ROOT / "var") as work:
            site = Path(work) / "site"
            started = time.perf_counter()
            outlet = seed_new(site, records, args.seed_pages)
            seeded = time.perf_counter() - started
            rebuilds = []
            for _ in range(5):
                started = time.perf_counter()
                outlet.rebuild()
                rebuilds.append((time.perf_counter() - started) * 1000)
            outlet.rebuilds = 0
            deliveries = [delivery(article(n, "new")) for n in range(args.deliveries)]
            started = time.perf_counter()
            times = timed(outlet.deliver, deliveries)
            wall = time.perf_counter() - started
            row = {
                **summary(times),
                "rebuilds_during": outlet.rebuilds,
                "wall_s": round(wall, 2),
                "rebuild_ms_median": round(statistics.median(rebuilds), 1),
                "seed_s": round(seeded, 1),
                "state_mb": round(
                    sum(p.stat().st_size for p in site.glob(static_site.STATE_FILE + "*")) / 1e6, 1
                ),
            }
            results["new"][str(size)] = row
            print(f"new  {size:>7} published: {json.dumps(row)}", flush=True)
            time.sleep(outlet.rebuild_interval + 0.2)  # let the trailing rebuild finish

        if old is not None:
            count = args.deliveries if size <= 10_000 else args.old_deliveries_big
            with tempfile.TemporaryDirectory(prefix="site-bench-", dir=ROOT / "var") as work:
                site = Path(work) / "site"
                outlet_old = seed_old(old, site, records, args.seed_pages)
                deliveries = [delivery(article(n, "old")) for n in range(count)]
                times = timed(outlet_old.deliver, deliveries)
                row = {
                    **summary(times),
                    "manifest_mb": round((site / old.MANIFEST).stat().st_size / 1e6, 1),
                }
                results["old"][str(size)] = row
                print(f"old  {size:>7} published: {json.dumps(row)}", flush=True)

    small, big = str(min(sizes)), str(max(sizes))
    for kind in ("new", "old"):
        if small in results[kind] and big in results[kind] and small != big:
            ratio = {
                key: round(results[kind][big][key] / results[kind][small][key], 2)
                for key in ("median_ms", "p95_ms")
            }
            results[kind]["ratio_big_to_small"] = ratio
            print(f"{kind}: {big} vs {small} published, per delivery: {ratio}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
