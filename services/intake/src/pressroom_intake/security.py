"""Security headers on every answer, and the pinned ReDoc script /docs loads.

The pages the intake serves are its own (/docs) and the static site's (/site/, for
convenience): neither needs scripts of ours or to be framed, and the site needs nothing from
elsewhere, so each gets the narrowest Content-Security-Policy that still renders it.
"""

from __future__ import annotations

from flask import Flask, Response, request

# /docs loads ReDoc from jsDelivr, pinned to one release and checked by the browser against
# this hash of the file npm ships (`npm pack redoc@2.5.4`, sha384 of
# package/bundles/redoc.standalone.js), so a changed CDN file is refused, not run.
REDOC_VERSION = "2.5.4"
REDOC_URL = f"https://cdn.jsdelivr.net/npm/redoc@{REDOC_VERSION}/bundles/redoc.standalone.js"
REDOC_INTEGRITY = "sha384-w447zOpYfw/1Tv/5AK9NfHTlQIqE3RVR6KY62jCyy9zNDgO64cMwGGP1Fj0zJVf5"

# Site pages carry their CSS inline and a JSON-LD data block (never executed); nothing else.
SITE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# ReDoc injects its styles, runs its search in a blob: worker and fetches the OpenAPI document.
DOCS_POLICY = (
    "default-src 'none'; script-src https://cdn.jsdelivr.net; style-src 'unsafe-inline'; "
    "img-src 'self' data: https://cdn.redoc.ly; font-src 'self' data:; connect-src 'self'; "
    "worker-src blob:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# JSON, feeds and problems are data: a browser that opens one directly must run nothing.
DATA_POLICY = "default-src 'none'; frame-ancestors 'none'"


def install_security_headers(app: Flask) -> None:
    app.config.update(OPENAPI_REDOC_URL=REDOC_URL, REDOC_INTEGRITY=REDOC_INTEGRITY)
    app.after_request(add_security_headers)


def add_security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Frame-Options", "DENY")  # frame-ancestors, for older browsers
    if response.mimetype != "text/html":
        policy = DATA_POLICY
    elif request.path.rstrip("/") == "/docs":
        policy = DOCS_POLICY
    else:
        policy = SITE_POLICY
    headers.setdefault("Content-Security-Policy", policy)
    return response
