"""/v1/articles: submit, version, kill and follow articles."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, g, json, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy.orm import Session
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from pressroom_intake import idempotency
from pressroom_intake.auth import require_scope
from pressroom_intake.context import IntakeContext, intake
from pressroom_intake.formats.base import load_formats
from pressroom_intake.listing import ArticleFilter, list_articles
from pressroom_intake.problems import (
    ProblemError,
    documents_problems,
    flatten_errors,
)
from pressroom_intake.request_body import json_body
from pressroom_intake.schemas import (
    ArticleAcceptedSchema,
    ArticleListArgsSchema,
    ArticleListSchema,
    ArticleOutSchema,
    EmbargoSchema,
    KillSchema,
    VersionListSchema,
)
from pressroom_intake.store import (
    ConflictError,
    change_embargo,
    create_article,
    describe_article,
    describe_versions,
    find_article,
    kill_article,
    update_article,
)
from pressroom_intake.submission import Submission, parse_submission
from pressroom_shared.db import transaction
from pressroom_shared.dispatch import send_steps
from pressroom_shared.models import Article, ArticleVersion
from pressroom_shared.steps import StepRef
from pressroom_shared.timeutil import utcnow


class _Parser(FlaskParser):
    """webargs' parser, but JSON bodies are read as POST reads them: the same limits and the
    same precise errors ("Malformed JSON at line 1, column 21: ...") on every endpoint."""

    def _raw_load_json(self, req: Any) -> Any:
        if not is_json_request(req):
            return core.missing
        return json_body()


class _Blueprint(Blueprint):
    ARGUMENTS_PARSER = _Parser()


blp = _Blueprint(
    "articles", __name__, url_prefix="/v1/articles", description="Submit and follow articles."
)

_FORMATS = load_formats().formats
# The installed input formats document themselves: no list here to keep in step with them.
REQUEST_BODY = {
    "required": True,
    "content": {media: spec for f in _FORMATS for media, spec in f.openapi.items()},
}
SUBMIT_DESCRIPTION = (
    "Accepts "
    + "; ".join(f.description for f in _FORMATS)
    + ". The article is stored before the answer; rendering, indexing and delivery follow "
    "asynchronously."
)


def _problems(*statuses: int) -> Any:
    return documents_problems(blp, *statuses)


@blp.route("")
class Articles(MethodView):
    @require_scope("read")
    @blp.doc(summary="List articles, newest first, with filters and cursor pagination")
    @blp.arguments(ArticleListArgsSchema, location="query", unknown=ma.RAISE)
    @blp.response(200, ArticleListSchema)
    @_problems(400, 401, 403, 422, 429)
    def get(self, args: dict[str, Any]) -> Any:
        with intake().sessions() as session:
            page = list_articles(session, ArticleFilter.from_args(args))
        return page

    @require_scope("submit")
    @blp.doc(
        summary="Submit an article",
        description=SUBMIT_DESCRIPTION,
        requestBody=REQUEST_BODY,
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
    @_problems(400, 401, 403, 409, 413, 415, 422, 429)
    def post(self) -> Any:
        ctx = intake()
        now = utcnow()
        raw = request.get_data(cache=True)  # 413 past MAX_CONTENT_LENGTH, before any work
        submission = _parse(ctx, raw, allow_correction=False)
        record_id = None
        if (header := request.headers.get("Idempotency-Key")) is not None:
            outcome = idempotency.begin(
                ctx.sessions,
                g.api_key_id,
                idempotency.parse_key(header),
                idempotency.fingerprint(request.mimetype, request.mimetype_params, raw),
                now=now,
                ttl=ctx.settings.idempotency_ttl_seconds,
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
                    list(ctx.outlets),
                    now=now,
                    submitted_by=g.api_key_id,
                    pubstatus=submission.pubstatus,
                    policy=ctx.policy,
                )
                location, body = _accepted(article, version, submission.warnings)
                if record_id is not None:
                    idempotency.finish(session, record_id, 202, body, location)
        except BaseException:
            if record_id is not None:
                idempotency.abandon(ctx.sessions, record_id)
            raise
        return _sent(ctx, refs, body, location)


@blp.route("/<uuid:article_id>", endpoint="Article")
class ArticleResource(MethodView):
    @require_scope("read")
    @blp.doc(summary="An article: its current version, progress and deliveries")
    @blp.response(200, ArticleOutSchema, headers={"ETag": {"schema": {"type": "string"}}})
    @_problems(401, 403, 404)
    def get(self, article_id: Any) -> Any:
        with intake().sessions() as session:
            article, version = _found(session, article_id)
            view = describe_article(session, article, version)
        return view, 200, {"ETag": _etag(article)}

    @require_scope("submit")
    @blp.doc(
        summary="Submit a new version (an update, or a correction with a note)",
        description=(
            SUBMIT_DESCRIPTION + " A version is a correction when it carries a note: the JSON "
            "field `correction_note`, the front-matter key of that name, or the query parameter "
            "`correction_note` (any format). Send `If-Match` with the ETag you read to refuse "
            "overwriting a version you have not seen (412)."
        ),
        requestBody=REQUEST_BODY,
        parameters=[
            {"in": "header", "name": "If-Match", "required": False, "schema": {"type": "string"}},
            {
                "in": "query",
                "name": "correction_note",
                "required": False,
                "schema": {"type": "string", "maxLength": 2000},
            },
        ],
    )
    @blp.response(202, ArticleAcceptedSchema, description="The new version is stored and queued.")
    @_problems(400, 401, 403, 404, 409, 412, 413, 415, 422, 429)
    def put(self, article_id: Any) -> Any:
        ctx = intake()
        now = utcnow()
        raw = request.get_data(cache=True)
        submission = _parse(ctx, raw, allow_correction=True)
        with transaction(ctx.sessions) as session:
            article, _ = _found(session, article_id)
            _check_if_match(article)
            try:
                version, refs = update_article(
                    session,
                    article,
                    submission.content,
                    submission.warnings,
                    list(ctx.outlets),
                    now=now,
                    submitted_by=g.api_key_id,
                    pubstatus=submission.pubstatus,
                    policy=ctx.policy,
                )
            except ConflictError as exc:
                raise _conflict(exc) from exc
            location, body = _accepted(article, version, submission.warnings)
        return _sent(ctx, refs, body, location, etag=_etag(article))

    @require_scope("submit")
    @blp.doc(
        summary="Kill the article",
        description=(
            "pubstatus becomes `canceled`: a new version that every outlet which received any "
            "earlier version is told of; work not yet started for earlier versions is canceled. "
            'Give the reason as JSON `{"reason": "..."}` or `?reason=`.'
        ),
        requestBody={
            "required": False,
            "content": {"application/json": {"schema": KillSchema}},
        },
        parameters=[
            {"in": "header", "name": "If-Match", "required": False, "schema": {"type": "string"}},
            {"in": "query", "name": "reason", "required": False, "schema": {"type": "string"}},
        ],
    )
    @blp.response(202, ArticleAcceptedSchema, description="The kill is stored and queued.")
    @_problems(400, 401, 403, 404, 409, 412, 413, 415, 422)
    def delete(self, article_id: Any) -> Any:
        ctx = intake()
        reason = _kill_reason()
        with transaction(ctx.sessions) as session:
            article, _ = _found(session, article_id)
            _check_if_match(article)
            try:
                version, refs = kill_article(
                    session,
                    article,
                    reason=reason,
                    now=utcnow(),
                    submitted_by=g.api_key_id,
                    policy=ctx.policy,
                )
            except ConflictError as exc:
                raise _conflict(exc) from exc
            location, body = _accepted(article, version, [])
            body["status"] = "killed"
        return _sent(ctx, refs, body, location, etag=_etag(article))


@blp.route("/<uuid:article_id>/versions")
class ArticleVersions(MethodView):
    @require_scope("read")
    @blp.doc(summary="Every version of the article, oldest first")
    @blp.response(200, VersionListSchema)
    @_problems(401, 403, 404)
    def get(self, article_id: Any) -> Any:
        with intake().sessions() as session:
            article, _ = _found(session, article_id)
            return {"id": article.id, "versions": describe_versions(session, article)}


@blp.route("/<uuid:article_id>/embargo")
class ArticleEmbargo(MethodView):
    @require_scope("submit")
    @blp.doc(
        summary="Move or lift the embargo of the current version",
        description='`{"embargoed_until": null}` lifts it: held work is released at once.',
    )
    @blp.arguments(EmbargoSchema)
    @blp.response(200, ArticleOutSchema)
    @_problems(400, 401, 403, 404, 409, 413, 422)
    def put(self, args: dict[str, Any], article_id: Any) -> Any:
        ctx = intake()
        now = utcnow()
        until = args["embargoed_until"]
        if until is not None and until <= now:
            raise ProblemError(
                422,
                "invalid-embargo",
                "Invalid embargo",
                "embargoed_until is in the past; send null to lift the embargo.",
                errors={"embargoed_until": ["Must be in the future, or null."]},
            )
        with transaction(ctx.sessions) as session:
            article, _ = _found(session, article_id)
            try:
                version, refs = change_embargo(
                    session, article, until, ctx.outlets, now=now, policy=ctx.policy
                )
            except ConflictError as exc:
                raise _conflict(exc) from exc
            view = describe_article(session, article, version)
        send_steps(ctx.celery, refs)
        return view


def _parse(ctx: IntakeContext, raw: bytes, *, allow_correction: bool) -> Submission:
    submission = parse_submission(
        raw,
        request.mimetype,
        dict(request.mimetype_params),
        ctx.settings,
        ctx.formats,
        now=utcnow(),
        correction_note=request.args.get("correction_note"),
    )
    if submission.content.correction_note and not allow_correction:
        raise ProblemError(
            422,
            "invalid-article",
            "Invalid article",
            "A new article cannot be a correction: send corrections with PUT.",
            errors={"correction_note": ["Only allowed on PUT /v1/articles/{id}."]},
        )
    return submission


def _found(session: Session, article_id: Any) -> tuple[Article, ArticleVersion]:
    found = find_article(session, str(article_id))
    if found is None:
        raise ProblemError(404, "not-found", "Not Found", f"No article {article_id}.")
    return found


def _etag(article: Article) -> str:
    return f'"v{article.current_version}"'


def _check_if_match(article: Article) -> None:
    wanted = request.headers.get("If-Match")
    if wanted is None:
        return
    # RFC 9110 13.1.1: If-Match compares strongly, so a weak tag (W/"v2") never matches.
    tags = {tag.strip() for tag in wanted.split(",")}
    if "*" not in tags and _etag(article) not in tags:
        raise ProblemError(
            412,
            "precondition-failed",
            "Precondition Failed",
            f"The article is at version {article.current_version} ({_etag(article)}), "
            f"not {wanted}: read it again and resubmit.",
            errors={"If-Match": [f"Current ETag is {_etag(article)}."]},
        )


def _kill_reason() -> str:
    reason = request.args.get("reason")
    if request.get_data(cache=True).strip():
        if request.mimetype != "application/json":
            raise ProblemError(
                415,
                "unsupported-media-type",
                "Unsupported Media Type",
                "Send the reason as application/json or as ?reason=.",
                errors={"Content-Type": ["Use application/json."]},
            )
        document = json_body()
        if not isinstance(document, dict):
            raise ProblemError(
                400,
                "invalid-request",
                "Bad Request",
                "Expected a JSON object.",
                errors={"_body": ["Expected a JSON object."]},
            )
        try:
            reason = KillSchema().load(document)["reason"] or reason
        except ma.ValidationError as exc:
            raise ProblemError(
                422,
                "invalid-request",
                "Invalid request",
                "Invalid kill request.",
                errors=flatten_errors(exc.messages),
            ) from exc
    return (reason or "").strip() or "killed"


def _conflict(exc: ConflictError) -> ProblemError:
    return ProblemError(409, "conflict", "Conflict", str(exc).capitalize() + ".")


def _accepted(
    article: Article, version: ArticleVersion, warnings: list[str]
) -> tuple[str, dict[str, Any]]:
    location = url_for("articles.Article", article_id=article.id)
    body = ArticleAcceptedSchema().dump(
        {
            "id": article.id,
            "version": version.version,
            "status": "received",
            "event": version.event,
            "headline": version.headline,
            "slug": article.slug,
            "embargoed_until": version.embargoed_until,
            "warnings": warnings,
            "links": {"self_": location, "versions": f"{location}/versions"},
        }
    )
    return location, body


def _sent(
    ctx: IntakeContext,
    refs: list[StepRef],
    body: dict[str, Any],
    location: str,
    *,
    etag: str | None = None,
) -> Response:
    send_steps(ctx.celery, refs)  # after commit: a message never points at an unsaved row
    response = _json(body, 202, location)
    if etag:
        response.headers["ETag"] = etag
    return response


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
