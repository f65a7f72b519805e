"""The bare stack's intake: Flask + marshmallow validating the article JSON, then `.delay()`.

The ceiling pressroom is measured against (issue 14): the same shape of work with no database,
no state and no retries. `POST /echo` is the second baseline, a Flask endpoint doing nothing.

    BARE_REDIS_URL=redis://... gunicorn -w 2 --chdir bench/bare_stack bare_web:app
"""

from __future__ import annotations

import uuid
from typing import Any

from bare_tasks import render
from flask import Flask, request
from marshmallow import Schema, ValidationError, fields, validate

app = Flask(__name__)


class ArticleSchema(Schema):
    """About the fields of pressroom's native JSON input, with its limits."""

    headline = fields.String(required=True, validate=validate.Length(1, 300))
    body = fields.String(required=True, validate=validate.Length(1, 200_000))
    body_format = fields.String(validate=validate.OneOf(["text", "html"]))
    language = fields.String(
        required=True, validate=validate.Regexp(r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$")
    )
    byline = fields.String(validate=validate.Length(max=200))
    rubric = fields.String(validate=validate.Length(max=200))
    tags = fields.List(
        fields.String(validate=validate.Length(1, 100)), validate=validate.Length(max=20)
    )
    published_at = fields.AwareDateTime()
    urgency = fields.Integer(strict=True, validate=validate.Range(1, 9))
    embargoed_until = fields.AwareDateTime()


SCHEMA = ArticleSchema()


@app.post("/v1/articles")
def submit() -> tuple[dict[str, Any], int]:
    document = request.get_json()
    try:
        SCHEMA.load(document)
    except ValidationError as exc:
        return {"errors": exc.messages}, 422
    article_id = str(uuid.uuid4())
    render.delay({"id": article_id, "headline": document["headline"], "body": document["body"]})
    return {"id": article_id, "slug": article_id, "status": "received"}, 202


@app.post("/echo")
def echo() -> tuple[bytes, int, dict[str, str]]:
    return request.get_data(), 200, {"Content-Type": "application/json"}


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
