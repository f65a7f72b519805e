"""The README's commands, run as written with bash against `pressroom run`, as a newcomer
runs them from a fresh clone: every curl gets the status the README documents (any 2xx where
it documents none), search finds what was posted, and the site is served.

Only two things are changed: the port (8000 may be taken here; the test picks a free one) and
`.venv/bin/pressroom` (the one beside this interpreter). Between commands the test waits, as a
reader would, for the pipeline to finish what the previous one started. Blocks that start
processes (`make run`, the webhook receiver, `make test`) are the test's own job or out of scope.
"""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_run_command import PRESSROOM, clean_env
from tests.support.services import free_port, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
SKIPPED_BLOCKS = ("make ", "webhook-receiver")
# curl also reports each answer's status, in a file of its own ($CURL_LOG): the commands'
# own output, stdout and stderr, stays as the reader sees it.
PRELUDE = """
set -o pipefail
curl() { command curl -w '%{stderr}@@status %{http_code}\\n' "$@" 2>>"$CURL_LOG"; }
xdg-open() { curl -s -o /dev/null "$1"; }
"""
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@dataclass
class Command:
    text: str
    comment: str = ""
    assigns: list[str] = field(default_factory=list)

    @property
    def documented_status(self) -> int | None:
        found = re.search(r"\b([1-5]\d\d)\b", self.comment)
        return int(found.group(1)) if found else None


def complete(text: str) -> bool:
    """bash itself decides where a command ends (quotes and $( ) may span lines)."""
    if text.rstrip().endswith("\\"):
        return False
    return subprocess.run(["bash", "-n", "-c", text], capture_output=True).returncode == 0


def readme_commands() -> list[Command]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    commands: list[Command] = []
    for block in re.findall(r"```sh\n(.*?)```", readme, re.S):
        if any(marker in block for marker in SKIPPED_BLOCKS):
            continue
        pending = ""
        for line in block.splitlines():
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                if commands and line.strip():
                    commands[-1].comment += " " + line.strip()  # the answer, described below
                continue
            pending += line + "\n"
            if complete(pending):
                last = pending.rstrip().splitlines()[-1]
                comment = last.split("  # ", 1)[1] if "  # " in last else ""
                assigns = re.findall(r"^([A-Z][A-Z0-9_]*)=", pending, re.M)
                commands.append(Command(pending, comment, assigns))
                pending = ""
        assert not pending, f"unfinished command in the README: {pending}"
    return commands


def test_the_readme_runs_as_written(tmp_path: Path) -> None:
    commands = readme_commands()
    assert len(commands) >= 15, [c.text for c in commands]
    var_dir = tmp_path / "var"
    env = clean_env(var_dir)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "run.log").open("wb")
    runner = subprocess.Popen(
        [PRESSROOM, "run", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_until(lambda: _up(base), 60, "the intake to answer /healthz", interval=0.3)
        watcher = subprocess.run(
            [PRESSROOM, "keys", "create", "readme-test", "--scopes", "read"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        state = tmp_path / "state.sh"
        state.write_text("")
        names: set[str] = set()
        for command in commands:
            names.update(command.assigns)
            script = command.text.replace("127.0.0.1:8000", f"127.0.0.1:{port}").replace(
                ".venv/bin/pressroom", shlex.quote(PRESSROOM)
            )
            curl_log = tmp_path / "curl.log"
            curl_log.write_text("")
            ran = subprocess.run(
                [
                    "bash",
                    "-c",
                    f"{PRELUDE}\nsource {state}\n{script}\nrc=$?\n"
                    f"declare -p {' '.join(sorted(names)) or 'rc'} > {state} 2>/dev/null\n"
                    "exit $rc",
                ],
                cwd=REPO,
                env={**env, "CURL_LOG": str(curl_log)},
                capture_output=True,
                text=True,
                timeout=60,
            )
            curl_said = curl_log.read_text()
            where = (
                f"\n$ {command.text}\nstdout: {ran.stdout}\nstderr: {ran.stderr}\ncurl: {curl_said}"
            )
            assert ran.returncode == 0, where
            statuses = [int(s) for s in re.findall(r"@@status (\d+)", curl_said)]
            if "curl " in command.text or "xdg-open " in command.text:
                assert len(statuses) == 1, where
                expected = command.documented_status
                if expected is None:
                    assert 200 <= statuses[0] < 300, where
                else:
                    assert statuses[0] == expected, where
            for name in command.assigns:
                assert re.search(rf'declare -- {name}="[^"]+"', state.read_text()), (
                    f"${name} is empty{where}"
                )
            if "/v1/search" in command.text:
                assert json.loads(ran.stdout)["results"], f"search found nothing{where}"
            for article_id in set(re.findall(UUID, ran.stdout + ran.stderr)):
                if 202 in statuses:
                    _settle(base, watcher, article_id)
        assert "ID=" in state.read_text()
    finally:
        runner.send_signal(signal.SIGINT)
        runner.wait(timeout=40)
        log.close()


def _settle(base: str, token: str, article_id: str) -> None:
    """Wait, as a reader would, until the article's pipeline has done what it can now."""

    def settled() -> bool:
        body = httpx.get(
            f"{base}/v1/articles/{article_id}", headers={"Authorization": f"Bearer {token}"}
        ).json()
        if body.get("embargoed_until"):
            return bool(body["status"] == "rendered")
        return body["status"] in {"delivered", "killed", "failed"}

    wait_until(settled, 30, f"article {article_id} to be processed", interval=0.2)


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
