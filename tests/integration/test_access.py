"""Access to /v1: one rate budget per token, failed tokens throttled per address, the keys CLI.
Real Redis, real databases, the intake on a real socket."""

from __future__ import annotations

import uuid

import pytest
import redis

from pressroom_intake import create_app
from pressroom_shared.config import Settings
from tests.conftest import new_token
from tests.integration.test_intake_api import assert_problem, auth

pytestmark = pytest.mark.integration


def test_one_rate_budget_per_token_across_every_endpoint(settings: Settings) -> None:
    client = create_app(settings.replace(rate_limit="5/minute")).test_client()
    token = new_token(settings, name="busy")
    spread = [
        client.get("/v1/search?q=x", headers=auth(token)),
        client.get("/v1/articles", headers=auth(token)),
        client.get(f"/v1/articles/{uuid.uuid4()}", headers=auth(token)),
        client.get(f"/v1/articles/{uuid.uuid4()}/versions", headers=auth(token)),
        client.post("/v1/articles", json={}, headers=auth(token)),
    ]
    assert [a.status_code for a in spread] == [200, 200, 404, 404, 422]
    limited = client.get("/v1/articles", headers=auth(token))
    body = assert_problem(limited, 429)
    assert "5 per 1 minute" in body["detail"]
    assert int(limited.headers["Retry-After"]) > 0
    # The budget is the token's: another token, and the endpoints outside /v1, are untouched.
    assert client.get("/v1/articles", headers=auth(new_token(settings))).status_code == 200
    assert client.get("/healthz").status_code == 200
    keys = redis.Redis.from_url(settings.redis_url).keys("*pressroom-ratelimit/token:*")
    assert len(keys) == 2, keys  # one counter per token, in the real Redis


def test_failed_tokens_are_throttled_per_client_address(settings: Settings) -> None:
    client = create_app(settings.replace(auth_failure_limit="3/minute")).test_client()
    guesser = {"REMOTE_ADDR": "203.0.113.7"}
    for _ in range(3):
        response = client.get(
            "/v1/articles", headers=auth(f"prs_{uuid.uuid4().hex}"), environ_base=guesser
        )
        assert_problem(response, 401)
    throttled = client.get("/v1/articles", headers=auth("prs_guess"), environ_base=guesser)
    body = assert_problem(throttled, 429)
    assert "203.0.113.7" not in body["detail"]
    assert 0 < int(throttled.headers["Retry-After"]) <= 60
    # Even a right token waits: the address is not told whether its guess was good.
    token = new_token(settings)
    assert_problem(client.get("/v1/articles", headers=auth(token), environ_base=guesser), 429)
    # Other addresses are unaffected, and good tokens never count as failures.
    other = {"REMOTE_ADDR": "198.51.100.1"}
    for _ in range(5):
        assert (
            client.get("/v1/articles", headers=auth(token), environ_base=other).status_code == 200
        )
    assert_problem(client.get("/v1/articles", headers=auth("prs_x"), environ_base=other), 401)
    stored = redis.Redis.from_url(settings.redis_url).keys("*pressroom-ratelimit/auth-failures/*")
    assert len(stored) == 2, stored
