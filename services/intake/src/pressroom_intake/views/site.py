"""Serve the first static-site outlet's folder at /site/, for convenience in development."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from flask import Blueprint, Response, send_from_directory

from pressroom_intake.context import intake
from pressroom_intake.problems import ProblemError

blp = Blueprint("site", __name__, url_prefix="/site")

# What a reader may fetch: pages, feeds and sitemaps. The outlet keeps its own state beside them
# (.state.sqlite, lock files, half-written .part files, an old manifest.json) and that is
# nobody's business.
PUBLISHED_SUFFIXES = frozenset({".html", ".rss", ".atom", ".xml"})


@blp.get("/", defaults={"path": "index.html"})
@blp.get("/<path:path>")
def serve(path: str) -> Response:
    folder = site_folder()
    if folder is None:
        raise ProblemError(404, "not-found", "Not Found", "No static_site outlet is configured.")
    wanted = PurePosixPath(path)
    if (
        any(part.startswith(".") for part in wanted.parts)
        or wanted.suffix not in PUBLISHED_SUFFIXES
    ):
        raise ProblemError(404, "not-found", "Not Found", "The site has no such page or feed.")
    return send_from_directory(folder.resolve(), path)


def site_folder() -> Path | None:
    for outlet in intake().outlets:
        if outlet.type == "static_site" and "path" in outlet.options:
            return Path(str(outlet.options["path"]))
    return None
