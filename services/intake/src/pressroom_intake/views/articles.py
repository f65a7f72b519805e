"""/v1/articles: submit and inspect articles."""

from __future__ import annotations

from typing import Any

from flask import Response, g, json, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from pressroom_intake import idempotency
from pressroom_intake.auth import require_scope
from pressroom_intake.context import intake
from pressroom_intake.problems import ProblemError, ProblemSchema
from pressroom_intake.schemas import (
    ArticleAcceptedSchema,
    ArticleInSchema,
    ArticleOutSchema,
    Limits,
)
from pressroom_intake.store import create_article, describe_article, find_article
from pressroom_intake.submission import parse_submission
from pressroom_shared.db import transaction
from pressroom_shared.dispatch import send_steps
from pressroom_shared.timeutil import utcnow

blp = Blueprint(
    "articles", __name__, url_prefix="/v1/articles", description="Submit and follow articles."
)

PLAIN_TEXT_EXAMPLE = (
    "27 мая 2025 05:39, Виктория Любимова, Новости СВО и мобилизации, 👁 946\n"
    "Первый абзац новости…\nПодзаголовок\n- пункт списка\n"
)


@blp.route("")
class Articles(MethodView):
    @require_scope("submit")
    @blp.doc(
        summary="Submit an article",
        description=(
            "Accepts `application/json` (the fields below; unknown fields are rejected) or "
            "`text/plain; charset=utf-8` in the newsroom export format: a header line "
            "`date, byline, rubric, 👁 views`, then paragraphs, short heading lines, `- ` "
            "bullets and footnote marks `[n]`. The article is stored before the answer; "
            "rendering, indexing and delivery follow asynchronously. Send `Idempotency-Key` "
            "to retry safely."
        ),
        requestBody={
            "required": True,
            "content": {
                "application/json": {"schema": ArticleInSchema},
                "text/plain": {"schema": {"type": "string"}, "example": PLAIN_TEXT_EXAMPLE},
            },
        },
        parameters=[
            {
                "in": "header",
                "name": "Idempotency-Key",
                "required": False,
                "schema": {"type": "string", "maxLength": 257},
                "description": "A quoted unique string (UUID recommended); kept 24 hours.",
            }
        ],
    )
    @blp.response(202, ArticleAcceptedSchema, description="Stored and queued.")
    @blp.alt_response(400, schema=ProblemSchema, content_type="application/problem+json")
    @blp.alt_response(401, schema=ProblemSchema, content_type="application/problem+json")
    @blp.alt_response(403, schema=ProblemSchema, content_type="application/problem+json")
    @blp.alt_response(409, schema=ProblemSchema, content_type="application/problem+json")
    @blp.alt_response(413, schema=ProblemSchema, content_type="application/problem+json")
    @blp.alt_response(415, schema=ProblemSchema, content_type="application/problem+json")
    @blp.alt_response(422, schema=ProblemSchema, content_type="application/problem+json")
    def post(self) -> Any:
        ctx = intake()
        settings = ctx.settings
        now = utcnow()
        raw = request.get_data(cache=True)  # 413 past MAX_CONTENT_LENGTH, before any work
        limits = Limits(settings.max_headline_chars, settings.max_body_chars, settings.max_tags)
        submission = parse_submission(
            raw, request.mimetype, request.mimetype_params.get("charset"), limits, now=now
        )
        record_id = None
        if (header := request.headers.get("Idempotency-Key")) is not None:
            key = idempotency.parse_key(header)
            digest = idempotency.fingerprint(request.mimetype, raw)
            outcome = idempotency.begin(
                ctx.sessions,
                g.api_key_id,
                key,
                digest,
                now=now,
                ttl=settings.idempotency_ttl_seconds,
            )
            if isinstance(outcome, idempotency.Replay):
                return _json(outcome.body, outcome.status, outcome.location, replayed=True)
            record_id = outcome
        try:
            with transaction(ctx.sessions) as session:
                article, version, refs = create_article(
                    session,
                    submission.content,
                    submission.warnings,
                    [o.name for o in ctx.outlets],
                    now=now,
                )
                location = url_for("articles.Article", article_id=article.id)
                body = ArticleAcceptedSchema().dump(
                    {
                        "id": article.id,
                        "version": version.version,
                        "status": "received",
                        "headline": version.headline,
                        "slug": article.slug,
                        "warnings": submission.warnings,
                        "links": {"self_": location, "versions": f"{location}/versions"},
                    }
                )
                if record_id is not None:
                    idempotency.finish(session, record_id, 202, body, location)
        except BaseException:
            if record_id is not None:
                idempotency.abandon(ctx.sessions, record_id)
            raise
        send_steps(ctx.celery, refs)  # after commit: a message never points at an unsaved row
        return _json(body, 202, location)


def _json(
    body: dict[str, Any], status: int, location: str | None, *, replayed: bool = False
) -> Response:
    response = Response(
        json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json"
    )
    if location:
        response.headers["Location"] = location
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@blp.route("/<uuid:article_id>", endpoint="Article")
class ArticleResource(MethodView):
    @require_scope("read")
    @blp.doc(summary="An article: its current version, progress and deliveries")
    @blp.response(200, ArticleOutSchema)
    @blp.alt_response(404, schema=ProblemSchema, content_type="application/problem+json")
    def get(self, article_id: Any) -> Any:
        ctx = intake()
        with ctx.sessions() as session:
            found = find_article(session, str(article_id))
            if found is None:
                raise ProblemError(404, "not-found", "Not Found", f"No article {article_id}.")
            view = describe_article(session, *found)
        return view, 200, {"ETag": f'"v{view["version"]}"'}
