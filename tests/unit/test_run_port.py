"""`pressroom run --port` and `make run PORT=` reach the intake's bind and the site's URLs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pressroom_cli.main import site_url_for
from pressroom_cli.supervisor import programs
from pressroom_shared.config import Settings
from pressroom_shared.outlets_config import load_outlets

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("host", "port", "url"),
    [
        ("127.0.0.1", 8000, "http://127.0.0.1:8000/site"),
        ("127.0.0.1", 8080, "http://127.0.0.1:8080/site"),
        ("0.0.0.0", 9000, "http://127.0.0.1:9000/site"),
        ("localhost", 8001, "http://localhost:8001/site"),
        ("::", 8002, "http://[::1]:8002/site"),
        ("::1", 8003, "http://[::1]:8003/site"),
    ],
)
def test_the_site_url_follows_host_and_port(host: str, port: int, url: str) -> None:
    assert site_url_for(host, port) == url


def test_only_an_explicit_site_url_is_kept() -> None:
    assert not Settings.is_set("site_url", {})
    assert Settings.is_set("site_url", {"PRESSROOM_SITE_URL": "https://news.example.ru"})


@pytest.mark.parametrize(("host", "bind"), [("127.0.0.1", "127.0.0.1:8123"), ("::1", "[::1]:8123")])
def test_gunicorn_binds_where_asked(host: str, bind: str) -> None:
    settings = Settings()
    (intake,) = [
        p for p in programs(settings, load_outlets(settings), host, 8123) if p.name == "intake"
    ]
    assert intake.argv[intake.argv.index("--bind") + 1] == bind


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_passes_the_port() -> None:
    dry = subprocess.run(
        ["make", "--no-print-directory", "-n", "-C", str(REPO), "run", "PORT=8080"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert dry.stdout.strip().splitlines()[-1].endswith("pressroom run --port 8080")
