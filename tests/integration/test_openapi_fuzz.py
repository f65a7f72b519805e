"""schemathesis against our own OpenAPI document: every operation, authenticated.

No input it generates may cause a 5xx or an answer that contradicts the document.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from pressroom_intake import create_app
from pressroom_shared.config import Settings
from pressroom_shared.db import make_engine
from pressroom_shared.migrate import upgrade
from tests.conftest import make_settings, new_token, serving, write_outlets

pytestmark = pytest.mark.integration


@pytest.fixture
def fuzz_settings(tmp_path: Path, redis_url: str):  # type: ignore[no-untyped-def]
    settings = make_settings(
        tmp_path,
        redis_url=redis_url,
        database_url=f"sqlite:///{tmp_path / 'fuzz.db'}",
        outlets_file=write_outlets(tmp_path, None),
    )
    upgrade(make_engine(settings))
    return settings.replace(rate_limit="100000/minute")


@pytest.fixture
def fuzz_server(fuzz_settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The intake on a real socket, so every probe schemathesis makes goes through HTTP."""
    with serving(create_app(fuzz_settings)) as url:
        yield url


@pytest.fixture
def fuzz_token(fuzz_settings) -> str:  # type: ignore[no-untyped-def]
    return new_token(fuzz_settings, "submit,read,operate", name="fuzzer")


def _document() -> dict[str, object]:
    # The document depends on the code, not on settings: any app built from defaults serves it.
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(Settings(var_dir=Path(folder), redis_url="redis://127.0.0.1:1/0"))
        return dict(app.test_client().get("/v1/openapi.json").get_json())


# (schemathesis' lazy fixture loader does not work with pytest 9, hence the document up front
# and the server's address handed to each call.)
schema = schemathesis.openapi.from_dict(_document())


@schema.parametrize()
@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_its_contract(
    case: schemathesis.Case, fuzz_server: str, fuzz_token: str
) -> None:
    case.call_and_validate(
        base_url=fuzz_server,
        # Our token replaces the one schemathesis made up; a case made without the header (a
        # negative case testing the security requirement) is sent without it, and must be
        # refused.
        headers=(
            {"Authorization": f"Bearer {fuzz_token}"}
            if "Authorization" in (case.headers or {})
            else {}
        ),
        # The API rejects some schema-valid input on purpose (a blank headline, an unknown
        # language tag, a forged cursor), always with a documented 4xx problem.
        excluded_checks=[schemathesis.checks.positive_data_acceptance],
    )
