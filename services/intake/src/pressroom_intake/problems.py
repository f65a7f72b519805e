"""One error shape for every rejection: RFC 9457 application/problem+json.

Members: type, title, status, detail, and `errors` (field → list of reasons) where fields are
at fault. flask-smorest's Api is subclassed so its own errors (webargs validation, 404s,
405s, 413s) come out in the same shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import marshmallow as ma
import structlog
from flask import Response, json
from flask_smorest import Api, Blueprint
from werkzeug.exceptions import HTTPException

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://pressroom.dev/problems/"

log = structlog.get_logger(__name__)


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details (documentation only; responses are built by `problem`)."""

    type = ma.fields.String(metadata={"description": "URI naming the kind of problem"})
    title = ma.fields.String(metadata={"description": "Short summary of the kind of problem"})
    status = ma.fields.Integer(metadata={"description": "HTTP status code"})
    detail = ma.fields.String(metadata={"description": "What went wrong with this request"})
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        metadata={"description": "Reasons by field name"},
    )


class ProblemError(Exception):
    """Raise anywhere in a request to answer with a problem."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        *,
        errors: Mapping[str, list[str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.errors = dict(errors or {})
        self.headers = dict(headers or {})


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    errors: Mapping[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = dict(errors)
    response = Response(
        json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM_MEDIA_TYPE
    )
    response.headers.update(headers or {})
    return response


def documents_problems(blp: Blueprint, *statuses: int) -> Any:
    """A view decorator: the operation documents these problem answers, and 429 (every /v1
    operation is rate limited, see create_app)."""

    def decorate(view: Any) -> Any:
        for status in sorted({*statuses, 429}):
            view = blp.alt_response(status, schema=ProblemSchema, content_type=PROBLEM_MEDIA_TYPE)(
                view
            )
        return view

    return decorate


def handle_problem_error(error: ProblemError) -> Response:
    return problem(
        error.status,
        error.slug,
        error.title,
        error.detail,
        errors=error.errors,
        headers=error.headers,
    )


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow/webargs nested messages → {"field.sub": ["reason", ...]}."""
    if isinstance(messages, Mapping):
        flat: dict[str, list[str]] = {}
        for key, value in messages.items():
            # webargs nests by location ("json", "query"): the field name is what a client needs.
            name = str(key) if not prefix and key in {"json", "query", "headers", "form"} else None
            sub = "" if name else (f"{prefix}.{key}" if prefix else str(key))
            flat.update(flatten_errors(value, sub))
        return flat
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return {prefix or "_request": list(messages)}
    if isinstance(messages, list):
        flat = {}
        for item in messages:
            flat.update(flatten_errors(item, prefix))
        return flat
    return {prefix or "_request": [str(messages)]}


class ProblemApi(Api):
    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self) -> None:
        # flask-smorest documents its error responses with the success media type; ours are
        # problem+json, and the document must say so.
        success_type = getattr(self, "DEFAULT_RESPONSE_CONTENT_TYPE", "application/json")
        self.DEFAULT_RESPONSE_CONTENT_TYPE = PROBLEM_MEDIA_TYPE
        try:
            super()._register_responses()
        finally:
            self.DEFAULT_RESPONSE_CONTENT_TYPE = success_type

    def handle_http_exception(self, error: HTTPException) -> Response:
        data = getattr(error, "data", None) or {}
        code = error.code or 500
        errors = flatten_errors(data["messages"]) if "messages" in data else None
        if code >= 500:
            log.error("request.failed", status=code, error=str(error))
        title = error.name
        detail = error.description or title
        if errors:
            detail = "The request has invalid fields: " + ", ".join(sorted(errors))
        slug = title.lower().replace(" ", "-")
        # werkzeug's own headers matter: Allow on 405, WWW-Authenticate on 401, Retry-After...
        headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
        headers.update(data.get("headers") or {})
        return problem(code, slug, title, detail, errors=errors, headers=headers)
