"""The README's commands as a newcomer runs them: `pressroom keys create` and `pressroom run`."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import sample_text
from tests.support.services import free_port, port_open, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

PRESSROOM = str(Path(sys.executable).with_name("pressroom"))


def clean_env(var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESSROOM_")}
    return {**env, "PRESSROOM_VAR_DIR": str(var_dir), "PRESSROOM_LOG_JSON": "false"}


def test_keys_create_prints_only_a_working_token(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "var")
    result = subprocess.run(
        [PRESSROOM, "keys", "create", "desk", "--scopes", "submit,read,operate"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert re.fullmatch(r"prs_[A-Za-z0-9_-]{40,}\n", result.stdout)
    again = subprocess.run(
        [PRESSROOM, "keys", "create", "desk"], env=env, capture_output=True, text=True
    )
    assert again.returncode != 0
    assert "exists" in again.stderr
    bad = subprocess.run(
        [PRESSROOM, "keys", "create", "x", "--scopes", "root"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0
    assert "unknown scopes: root" in bad.stderr


def test_run_serves_the_sample_and_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    env = clean_env(var_dir)
    port = free_port()
    log = (tmp_path / "run.log").open("wb")
    runner = subprocess.Popen(
        [PRESSROOM, "run", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _up(base), 60, "the intake to answer /healthz", interval=0.3)
        token = subprocess.run(
            [PRESSROOM, "keys", "create", "desk", "--scopes", "submit,read"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        response = httpx.post(
            f"{base}/v1/articles",
            content=sample_text(),
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "text/plain; charset=utf-8",
            },
        )
        assert response.status_code == 202, response.text
        slug = response.json()["slug"]
        page = var_dir / "site" / "articles" / f"{slug}.html"
        wait_until(page.exists, 30, "the article page in the static site")
        served = httpx.get(f"{base}/site/articles/{slug}.html")
        assert served.status_code == 200
        # --port moves the site's own links too: canonical, og:url and JSON-LD.
        url = f"{base}/site/articles/{slug}.html"
        assert f'<link rel="canonical" href="{url}">' in served.text
        assert f'<meta property="og:url" content="{url}">' in served.text
        json_ld = re.search(r'<script type="application/ld\+json">(.*?)</script>', served.text)
        assert json_ld
        assert json.loads(json_ld.group(1))["mainEntityOfPage"]["@id"] == url
        assert ":8000" not in served.text
        found = httpx.get(
            f"{base}/v1/search",
            params={"q": "пленный"},
            headers={"Authorization": f"Bearer {token}"},
        )
        wait_until(
            lambda: httpx.get(
                f"{base}/v1/search",
                params={"q": "пленный"},
                headers={"Authorization": f"Bearer {token}"},
            ).json()["results"],
            30,
            "search to find the article",
        )
        assert found.status_code == 200
    finally:
        runner.send_signal(signal.SIGINT)
        code = runner.wait(timeout=40)
        log.close()
    output = (tmp_path / "run.log").read_text(errors="replace")
    assert code == 0, output
    redis_port = re.search(r"embedded Redis at redis://127\.0\.0\.1:(\d+)/0", output)
    assert redis_port, output
    assert not _up(base)
    assert not port_open(int(redis_port.group(1))), "the embedded Redis outlived `pressroom run`"


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_webhook_receiver_checks_signatures(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from standardwebhooks.webhooks import Webhook

    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    port = free_port()
    log = (tmp_path / "receiver.log").open("wb")
    receiver = subprocess.Popen(
        [PRESSROOM, "webhook-receiver", "--port", str(port), "--secret", secret],
        env=clean_env(tmp_path / "var"),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: port_open(port), 20, "the receiver to listen")
        body = '{"type": "article.published", "data": {"headlines": [{"value": "Обмен"}]}}'
        now = datetime.now(UTC)
        signature = Webhook(secret).sign("msg_1", now, body)
        headers = {
            "webhook-id": "msg_1",
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
            "Content-Type": "application/json",
        }
        url = f"http://127.0.0.1:{port}/hooks"
        assert httpx.post(url, content=body.encode(), headers=headers).status_code == 200
        assert httpx.post(url, content=body.encode(), headers=headers).status_code == 200
        forged = {**headers, "webhook-signature": "v1,AAAA"}
        assert httpx.post(url, content=body.encode(), headers=forged).status_code == 400
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)
        log.close()
    output = (tmp_path / "receiver.log").read_text()
    assert "article.published: Обмен msg_1 signature ok\n" in output
    assert "msg_1 signature ok (repeat: ignored)" in output
    assert "REJECTED msg_1" in output
