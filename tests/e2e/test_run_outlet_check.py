"""`pressroom run` checks every outlet before it starts anything."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_run_command import PRESSROOM, clean_env
from tests.support.services import free_port

pytestmark = pytest.mark.e2e

EXAMPLE_OUTLETS = Path(__file__).resolve().parents[2] / "outlets.example.toml"


def test_run_refuses_the_published_example_secret(tmp_path: Path) -> None:
    env = {**clean_env(tmp_path / "var"), "PRESSROOM_OUTLETS_FILE": str(EXAMPLE_OUTLETS)}
    result = subprocess.run(
        [PRESSROOM, "run", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "outlet 'partner': the secret is the published example" in result.stderr
    assert "PRESSROOM_ALLOW_EXAMPLE_SECRETS=true" in result.stderr
    assert not (tmp_path / "var" / "supervisor.json").exists(), "it started programs anyway"
