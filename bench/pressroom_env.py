"""What every benchmark needs to start pressroom: the command, its environment, an API key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PRESSROOM = str(Path(sys.executable).with_name("pressroom"))


def clean_env() -> dict[str, str]:
    """This shell's environment without its PRESSROOM_ and BARE_ (bare stack) settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PRESSROOM_", "BARE_"))}


def pressroom_env(work: Path, *, redis_url: str | None = None) -> dict[str, str]:
    """A stack in `work` with the outlets of `work/outlets.toml`, quiet logs and no rate limit
    to speak of, on a clean environment."""
    env = clean_env() | {
        "PRESSROOM_VAR_DIR": str(work / "var"),
        "PRESSROOM_OUTLETS_FILE": str(work / "outlets.toml"),
        "PRESSROOM_LOG_LEVEL": "WARNING",
        "PRESSROOM_ALLOW_EXAMPLE_SECRETS": "true",
        "PRESSROOM_RATE_LIMIT": "100000000/minute",
    }
    if redis_url:
        env["PRESSROOM_REDIS_URL"] = redis_url
    return env


def create_token(env: dict[str, str]) -> str:
    """A new `submit,read` key, made with the CLI as a newsroom would."""
    return subprocess.run(
        [PRESSROOM, "keys", "create", "bench", "--scopes", "submit,read"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
