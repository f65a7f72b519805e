"""/v1/search: full-text search that understands Russian and English word forms."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from pressroom_intake.auth import require_scope
from pressroom_intake.context import intake
from pressroom_intake.problems import ProblemSchema
from pressroom_intake.schemas import SearchArgsSchema, SearchResultSchema
from pressroom_shared import search

blp = Blueprint("search", __name__, url_prefix="/v1/search", description="Search articles.")


@blp.route("")
class Search(MethodView):
    @require_scope("read")
    # A misspelt parameter must fail loudly, not be silently ignored.
    @blp.arguments(SearchArgsSchema, location="query", unknown=ma.RAISE)
    @blp.response(200, SearchResultSchema)
    @blp.alt_response(401, schema=ProblemSchema, content_type="application/problem+json")
    @blp.alt_response(403, schema=ProblemSchema, content_type="application/problem+json")
    @blp.alt_response(422, schema=ProblemSchema, content_type="application/problem+json")
    @blp.alt_response(429, schema=ProblemSchema, content_type="application/problem+json")
    def get(self, args: dict[str, Any]) -> Any:
        """Articles matching every word of `q` in any word form, best first."""
        with intake().sessions() as session:
            hits = search.search(session, args["q"], limit=args["limit"], offset=args["offset"])
        return {
            "query": args["q"],
            "results": [
                {
                    "id": hit.article_id,
                    "version": hit.version,
                    "headline": hit.headline,
                    "rubric": hit.rubric,
                    "byline": hit.byline,
                    "language": hit.language,
                    "published_at": hit.published_at,
                    "score": hit.score,
                    "snippet": hit.snippet,
                    "links": {"self_": f"/v1/articles/{hit.article_id}"},
                }
                for hit in hits
            ],
        }
