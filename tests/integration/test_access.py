"""Access to /v1: one rate budget per token, failed tokens throttled per address, the keys CLI.
Real Redis, real databases, the intake on a real socket."""

from __future__ import annotations

import re
import time
import uuid

import httpx
import pytest
import redis
from click.testing import CliRunner, Result

from pressroom_cli.main import cli
from pressroom_intake import create_app
from pressroom_shared.config import Settings
from tests.conftest import new_token, serving
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


TOKEN = re.compile(r"prs_[A-Za-z0-9_-]{40,}")


def keys(settings: Settings, *args: str) -> Result:
    """`pressroom keys ...` through click, against the test's database."""
    env = {
        "PRESSROOM_DATABASE_URL": settings.database_url,
        "PRESSROOM_VAR_DIR": str(settings.var_dir),
    }
    return CliRunner().invoke(cli, ["keys", *args], env=env, catch_exceptions=False)


def status(live_server: str, token: str) -> int:
    return httpx.get(f"{live_server}/v1/articles", headers=auth(token)).status_code


def test_keys_list_revoke_and_rotate(settings: Settings, live_server: str) -> None:
    created = keys(settings, "create", "desk", "--scopes", "submit,read,operate")
    assert created.exit_code == 0, created.output
    desk = created.stdout.strip()
    assert TOKEN.fullmatch(desk)
    partner = keys(settings, "create", "partner", "--scopes", "read").stdout.strip()
    assert status(live_server, desk) == status(live_server, partner) == 200

    listed = keys(settings, "list")
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["NAME", "SCOPES", "CREATED", "REVOKED"]
    assert [line.split()[:2] for line in lines[1:]] == [
        ["desk", "operate,read,submit"],
        ["partner", "read"],
    ]
    assert all(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", line.split()[2]) for line in lines[1:]
    )
    assert all(line.split()[3] == "-" for line in lines[1:])
    assert "prs_" not in listed.output, "a token must never be listed"

    revoked = keys(settings, "revoke", "partner")
    assert revoked.exit_code == 0
    assert revoked.stdout == ""
    assert status(live_server, partner) == 401
    assert status(live_server, desk) == 200
    assert keys(settings, "list").stdout.splitlines()[2].split()[3].endswith("Z")

    rotated = keys(settings, "rotate", "desk")
    assert rotated.exit_code == 0
    new_desk = rotated.stdout.strip()
    assert TOKEN.fullmatch(new_desk)
    assert new_desk != desk
    assert status(live_server, desk) == 401
    assert status(live_server, new_desk) == 200
    assert keys(settings, "list").stdout.splitlines()[1].split()[1] == "operate,read,submit"

    unknown = keys(settings, "revoke", "nobody")
    assert unknown.exit_code != 0
    assert "no key named 'nobody'" in unknown.stderr


def test_a_revoked_token_is_refused_within_the_token_cache_bound(
    settings: Settings, live_server: str
) -> None:
    bound = 3.0
    cached = create_app(settings.replace(token_cache_seconds=bound))
    token = keys(settings, "create", "desk", "--scopes", "read").stdout.strip()
    with serving(cached) as url:
        assert status(url, token) == 200
        assert keys(settings, "revoke", "desk").exit_code == 0
        revoked_at = time.monotonic()
        # Remembered: the database is not asked again within the bound (the point of the cache).
        assert status(url, token) == 200
        while status(url, token) == 200:
            assert time.monotonic() - revoked_at < bound + 0.5, "still accepted past the bound"
            time.sleep(0.1)
        assert status(url, token) == 401
    # An intake with the cache off (as the other tests run) refuses it on the next call.
    assert status(live_server, token) == 401


def test_creating_an_existing_key_says_how_to_rotate_or_replaces_it(
    settings: Settings, live_server: str
) -> None:
    first = keys(settings, "create", "desk", "--scopes", "read").stdout.strip()
    again = keys(settings, "create", "desk", "--scopes", "submit,read")
    assert again.exit_code != 0
    assert again.stdout == "", "a failed create must not print anything $TOKEN could capture"
    assert "pressroom keys rotate desk" in again.stderr
    assert "--replace" in again.stderr
    assert status(live_server, first) == 200

    replaced = keys(settings, "create", "desk", "--scopes", "submit,read", "--replace")
    assert replaced.exit_code == 0
    token = replaced.stdout.strip()
    assert TOKEN.fullmatch(token)
    assert status(live_server, first) == 401
    assert status(live_server, token) == 200
    assert keys(settings, "list").stdout.splitlines()[1].split()[:2] == ["desk", "read,submit"]
    # --replace on a name that does not exist simply creates it.
    fresh = keys(settings, "create", "wire", "--scopes", "read", "--replace")
    assert status(live_server, fresh.stdout.strip()) == 200
