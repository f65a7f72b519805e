"""The /ops console over the Flask test client: login, scopes, CSRF, actions and their audit
trail, request ids in the timeline, and /metrics read back with prometheus-client's parser.

The browser tests (tests/browser/test_console_pages.py) drive the same pages in chromium
against a live intake and a worker subprocess.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update

from pressroom_shared.apikeys import revoke_key
from pressroom_shared.config import Settings
from pressroom_shared.contracts import all_queues
from pressroom_shared.db import make_engine, make_sessionmaker, transaction
from pressroom_shared.models import OperatorAction, OutletState, Step
from pressroom_shared.outlets_config import load_outlets
from pressroom_shared.steps import StepState
from tests.conftest import new_token, sample_text

pytestmark = pytest.mark.integration


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def log_in(client: FlaskClient, token: str) -> Any:
    page = client.get("/ops/login")
    return client.post("/ops/login", data={"token": token, "csrf_token": csrf_of(page.text)})


@pytest.fixture
def operator_token(settings: Settings) -> str:
    return new_token(settings, "operate,submit,read", name="night-desk")


@pytest.fixture
def operator(client: FlaskClient, operator_token: str) -> FlaskClient:
    answer = log_in(client, operator_token)
    assert answer.status_code == 302, answer.text
    return client


def submit(client: FlaskClient, token: str, request_id: str | None = None) -> str:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/plain; charset=utf-8"}
    if request_id:
        headers["X-Request-ID"] = request_id
    answer = client.post("/v1/articles", data=sample_text(), headers=headers)
    assert answer.status_code == 202, answer.text
    return str(answer.get_json()["id"])


def sessions(settings: Settings) -> Any:
    return make_sessionmaker(make_engine(settings))


def test_the_login_sets_a_strict_httponly_cookie_and_pages_follow(
    client: FlaskClient, operator_token: str
) -> None:
    assert client.get("/ops/queues").status_code == 302  # not logged in: to the form
    answer = log_in(client, operator_token)
    assert answer.status_code == 302
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Path=/ops" in cookie
    assert operator_token not in cookie  # the session carries the key's id, never the token
    assert "Secure" not in cookie  # plain HTTP here; over HTTPS it is Secure
    for path in ("/ops/", "/ops/queues", "/ops/workers", "/ops/outlets", "/ops/deliveries"):
        page = client.get(path)
        assert page.status_code == 200, path
        policy = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "<script>" not in page.text  # nothing inline: the CSP would refuse it anyway
        assert page.headers["Cache-Control"] == "no-store"


def test_the_cookie_is_secure_over_https(client: FlaskClient, operator_token: str) -> None:
    page = client.get("/ops/login", base_url="https://ops.example")
    answer = client.post(
        "/ops/login",
        data={"token": operator_token, "csrf_token": csrf_of(page.text)},
        base_url="https://ops.example",
    )
    assert answer.status_code == 302
    assert "Secure" in answer.headers["Set-Cookie"]


def test_a_token_without_operate_or_unknown_is_refused(
    client: FlaskClient, settings: Settings, token: str
) -> None:
    refused = log_in(client, token)  # submit,read only
    assert refused.status_code == 403
    assert "operate" in refused.text
    assert log_in(client, "not-a-token").status_code == 401
    assert client.get("/ops/").status_code == 302


def test_posts_without_the_csrf_token_are_refused(
    operator: FlaskClient, settings: Settings
) -> None:
    answer = operator.post("/ops/outlets/partner/pause", data={"reason": "x"})
    assert answer.status_code == 400
    assert answer.mimetype == "application/problem+json"
    assert answer.get_json()["type"].endswith("/csrf")
    wrong = operator.post("/ops/outlets/partner/pause", data={"csrf_token": "forged"})
    assert wrong.status_code == 400
    with sessions(settings)() as session:
        assert session.get(OutletState, "partner") is None  # nothing happened


def test_pause_and_resume_are_recorded_with_who_did_it(
    operator: FlaskClient, settings: Settings
) -> None:
    token = csrf_of(operator.get("/ops/outlets").text)
    answer = operator.post(
        "/ops/outlets/partner/pause", data={"csrf_token": token, "reason": "partner maintenance"}
    )
    assert answer.status_code == 302
    page = operator.get("/ops/outlets").text
    assert "partner maintenance" in page
    with sessions(settings)() as session:
        assert session.get(OutletState, "partner").mode == "paused"  # type: ignore[union-attr]
    overview = operator.get("/ops/").text
    assert "Outlet partner is paused by console:night-desk" in overview
    operator.post("/ops/outlets/partner/resume", data={"csrf_token": token})
    with sessions(settings)() as session:
        assert session.get(OutletState, "partner").mode == "active"  # type: ignore[union-attr]
        actions = session.scalars(select(OperatorAction).order_by(OperatorAction.id)).all()
    assert [(a.action, a.actor, a.target) for a in actions] == [
        ("outlet-paused", "console:night-desk", "outlet:partner"),
        ("outlet-active", "console:night-desk", "outlet:partner"),
    ]


def test_an_unknown_delivery_is_marked_and_a_failed_one_retried_in_bulk(
    operator: FlaskClient, settings: Settings, operator_token: str
) -> None:
    submit(operator, operator_token)
    submit(operator, operator_token)
    with transaction(sessions(settings)) as session:
        steps = session.scalars(
            select(Step).where(Step.stage == "deliver", Step.outlet == "partner")
        ).all()
        first, second = sorted(s.id for s in steps)
        session.execute(
            update(Step).where(Step.id == first).values(state=StepState.UNKNOWN, due_at=None)
        )
        session.execute(
            update(Step)
            .where(Step.id == second)
            .values(state=StepState.FAILED, last_error="HTTP 503", due_at=None)
        )
    listing = operator.get("/ops/deliveries?state=unknown")
    assert first in listing.text
    assert second not in listing.text
    token = csrf_of(listing.text)
    marked = operator.post(
        "/ops/deliveries/act", data={"csrf_token": token, "action": "mark-delivered", "id": first}
    )
    assert marked.status_code == 302
    # Bulk by filter: every failed delivery to partner.
    retried = operator.post(
        "/ops/deliveries/act",
        data={"csrf_token": token, "action": "retry", "outlet": "partner", "state": "failed"},
    )
    assert retried.status_code == 302
    # Without ticks or a filter, a bulk action is refused rather than applied to everything.
    assert (
        operator.post("/ops/deliveries/act", data={"csrf_token": token, "action": "cancel"})
    ).status_code == 400
    with sessions(settings)() as session:
        assert session.get(Step, first).state == StepState.DONE  # type: ignore[union-attr]
        assert session.get(Step, second).state == StepState.PENDING  # type: ignore[union-attr]
        audit = {
            (a.action, a.target, a.actor) for a in session.scalars(select(OperatorAction)).all()
        }
    assert audit == {
        ("mark-delivered", first, "console:night-desk"),
        ("retry", second, "console:night-desk"),
    }
    detail = operator.get(f"/ops/deliveries/{second}").text
    assert "retried by console:night-desk" in detail


def test_revoking_the_token_ends_its_console_sessions(
    operator: FlaskClient, settings: Settings
) -> None:
    assert operator.get("/ops/").status_code == 200
    with transaction(sessions(settings)) as session:
        revoke_key(session, "night-desk")
    assert operator.get("/ops/").status_code == 302


def test_the_request_id_follows_the_article_into_its_timeline(
    operator: FlaskClient, operator_token: str
) -> None:
    article_id = submit(operator, operator_token, request_id="newsroom-7f3a")
    auth = {"Authorization": f"Bearer {operator_token}"}
    corrected = operator.put(
        f"/v1/articles/{article_id}?correction_note=Fixed%20the%20date",
        data=sample_text(),
        headers={**auth, "Content-Type": "text/plain; charset=utf-8", "If-Match": '"v1"'},
    )
    assert corrected.status_code == 202, corrected.text
    killed = operator.delete(
        f"/v1/articles/{article_id}", json={"reason": "Legal complaint"}, headers=auth
    )
    assert killed.status_code == 202, killed.text
    page = operator.get(f"/ops/articles/{article_id}")
    assert page.status_code == 200
    assert "request newsroom-7f3a" in page.text
    kinds = re.findall(r'<span class="kind">(\w+)</span>', page.text)
    versions = [k for k in kinds if k in {"received", "version", "correction", "kill"}]
    assert versions == ["received", "correction", "kill"]  # in time order
    assert "canceled" in page.text  # v1's work, replaced by the correction
    assert "Fixed the date" in page.text
    assert "Legal complaint" in page.text
    answer = operator.get("/healthz", headers={"X-Request-ID": "probe-1"})
    assert answer.headers["X-Request-ID"] == "probe-1"
    odd = operator.get("/healthz", headers={"X-Request-ID": "<script>"})
    assert re.fullmatch(r"[0-9a-f]{32}", odd.headers["X-Request-ID"])


def test_metrics_parse_and_cover_every_queue(
    client: FlaskClient, settings: Settings, token: str
) -> None:
    submit(client, token)
    client.get("/v1/articles/not-there", headers={"Authorization": f"Bearer {token}"})
    families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}
    requests = families["pressroom_http_requests"].samples
    assert any(
        s.labels == {"method": "POST", "route": "/v1/articles", "status": "202"} for s in requests
    )
    assert any(s.labels.get("status") == "404" for s in requests)
    assert any(
        s.name == "pressroom_http_request_duration_seconds_bucket"
        for s in families["pressroom_http_request_duration_seconds"].samples
    )
    queues = {s.labels["queue"]: s.value for s in families["pressroom_queue_depth"].samples}
    assert set(queues) == set(all_queues(o.name for o in load_outlets(settings)))
    assert queues["render"] == 1  # the article's render step waits (no worker here)
    ages = {
        s.labels["queue"]: s.value for s in families["pressroom_queue_oldest_age_seconds"].samples
    }
    assert ages["render"] > 0
    deliveries = {
        (s.labels["outlet"], s.labels["state"]): s.value
        for s in families["pressroom_deliveries"].samples
    }
    assert deliveries[("partner", "pending")] == 1
    assert deliveries[("site", "pending")] == 1


def test_the_grafana_dashboard_uses_only_metrics_we_expose(client: FlaskClient, token: str) -> None:
    import json

    from tests.conftest import REPO

    submit(client, token)
    families = list(text_string_to_metric_families(client.get("/metrics").text))
    exposed = {f.name for f in families} | {s.name for f in families for s in f.samples}
    # Counted by workers and the intake; here no worker ran, so declare what they would add.
    exposed |= {"pressroom_tasks_total", "pressroom_task_duration_seconds_bucket"}
    dashboard = json.loads((REPO / "deploy" / "grafana-dashboard.json").read_text())
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"pressroom_[a-z_]+", target["expr"])
    }
    assert used
    assert used <= exposed, used - exposed


def test_the_overview_counts_what_was_received_and_what_waits(
    client: FlaskClient, settings: Settings, token: str
) -> None:
    from pressroom_shared.monitoring import overview
    from pressroom_shared.timeutil import utcnow

    submit(client, token)
    with sessions(settings)() as session:
        summary = overview(session, now=utcnow())
    assert summary.received == 1
    assert sum(got for _, got, _ in summary.series) == 1
    assert summary.stage_counts["render"] == {"pending": 1}
    assert summary.stage_counts["deliver"] == {"pending": 2}  # site and partner
    assert summary.delivered == summary.failed == 0


def test_the_articles_page_lists_the_latest_with_their_deliveries(
    operator: FlaskClient, operator_token: str
) -> None:
    article_id = submit(operator, operator_token)
    page = operator.get("/ops/articles")
    assert page.status_code == 200
    row = re.search(rf'<tr data-article="{article_id}">(.*?)</tr>', page.text, re.S)
    assert row, page.text
    assert "За последние дни" in row.group(1)  # the headline derived from the sample's lead
    assert re.search(r'<span class="n">2</span> pending', row.group(1))


def test_every_ops_and_v1_route_refuses_a_caller_without_credentials(
    app: Flask, client: FlaskClient, token: str
) -> None:
    """Walks the URL map and calls every route: no session, or a token without `operate`."""
    import uuid

    from werkzeug.routing import AnyConverter, UUIDConverter

    from tests.unit.test_architecture import OPS_PUBLIC

    def sample(rule: Any) -> dict[str, object]:
        values: dict[str, object] = {}
        for name, converter in rule._converters.items():
            if isinstance(converter, UUIDConverter):
                values[name] = uuid.uuid4()
            elif isinstance(converter, AnyConverter):
                values[name] = sorted(converter.items)[0]
            else:
                values[name] = "x"
        return values

    urls = app.url_map.bind("localhost")
    csrf = csrf_of(client.get("/ops/login").text)  # a valid CSRF token, but no login
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint in OPS_PUBLIC or rule.rule == "/v1/openapi.json":
            continue
        if not rule.rule.startswith(("/ops", "/v1/")):
            continue
        path = urls.build(rule.endpoint, sample(rule))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if rule.rule.startswith("/ops"):
                answer = client.open(path, method=method, data={"csrf_token": csrf})
                if method == "GET":
                    assert answer.status_code == 302, (method, path)
                    assert "/ops/login" in answer.headers["Location"]
                else:
                    assert answer.status_code == 401, (method, path, answer.text)
            else:
                assert client.open(path, method=method).status_code == 401, (method, path)
                if "deliveries" in path:  # the operate scope; a submit,read token is not enough
                    with_token = client.open(
                        path, method=method, headers={"Authorization": f"Bearer {token}"}
                    )
                    assert with_token.status_code == 403, (method, path)
            checked += 1
    assert checked >= 20
