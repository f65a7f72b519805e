"""The chaos harness: drive the live intake, run real workers, and check what partners saw.

- `Intake`: the API over HTTP with one token (submits retry safely: Idempotency-Key, If-Match).
- `Stream`: POSTs (and PUTs, DELETEs) articles from a thread, at a bounded rate and count,
  while the test breaks something.
- `check_receiver` / `check_database`: the delivery guarantees, checked at the partner and in
  what the API reports. They return what they saw, so scenarios can assert more.
- `Workers`: worker subprocesses the test may SIGKILL and replace.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from celery import Celery

from pressroom_shared.config import Settings
from pressroom_shared.contracts import all_queues
from pressroom_shared.outlets_config import load_outlets
from tests.support.chaos_receiver import ChaosReceiver, Hit
from tests.support.services import CeleryProcess, beat_process, wait_until

DELIVERED = "delivered"
FINISHED_DELIVERY_STATES = frozenset({"delivered", "failed", "unknown", "canceled"})


def webhook_id_of(delivery_id: str) -> str:
    """The `webhook-id` a partner sees for the delivery the API lists under `delivery_id`."""
    return "dlv_" + delivery_id.replace("-", "")


# -- the API ---------------------------------------------------------------------------------


class Intake:
    """The intake's HTTP API with one bearer token."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.http = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=15
        )
        self.retried: list[str] = []  # what made a call go again: "500", "ConnectError"...

    def close(self) -> None:
        self.http.close()

    def article(self, article_id: str) -> dict[str, Any]:
        response = self.http.get(f"/v1/articles/{article_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def versions(self, article_id: str) -> list[dict[str, Any]]:
        response = self.http.get(f"/v1/articles/{article_id}/versions")
        assert response.status_code == 200, response.text
        return list(response.json()["versions"])

    def delivery(self, article_id: str, outlet: str) -> dict[str, Any]:
        """The current version's delivery to `outlet`."""
        deliveries = self.article(article_id)["deliveries"]
        found = [d for d in deliveries if d["outlet"] == outlet]
        assert len(found) == 1, f"{outlet!r} deliveries of {article_id}: {deliveries}"
        return dict(found[0])

    def submit(self, headline: str, *, body: str | None = None) -> dict[str, Any]:
        """POST an article; a lost answer is retried under the same Idempotency-Key."""
        key = f'"{uuid.uuid4()}"'
        payload = _article(headline, body)
        response = self._retrying(
            lambda: self.http.post("/v1/articles", json=payload, headers={"Idempotency-Key": key}),
            retry_statuses={409},  # the first try is still being stored
        )
        assert response.status_code == 202, response.text
        return dict(response.json())

    def update(self, article_id: str, version: int, headline: str, body: str) -> int:
        """PUT version `version + 1` over `version`; returns the new version number.

        If-Match makes a retry safe: after a lost answer the retry meets 412, and the article
        already at `version + 1` says the first try was stored.
        """
        tried = False

        def put() -> httpx.Response:
            nonlocal tried
            response = self.http.put(
                f"/v1/articles/{article_id}",
                json=_article(headline, body),
                headers={"If-Match": f'"v{version}"'},
            )
            if (
                response.status_code == 412
                and tried
                and self.article(article_id)["version"] == version + 1
            ):
                return httpx.Response(202, json={"version": version + 1})
            tried = True
            return response

        response = self._retrying(put)
        assert response.status_code == 202, response.text
        return int(response.json()["version"])

    def kill(self, article_id: str, reason: str = "Legal") -> int:
        """DELETE (kill); returns the kill's version. A retry that meets 409 was stored."""
        tried = False

        def delete() -> httpx.Response:
            nonlocal tried
            response = self.http.delete(f"/v1/articles/{article_id}", params={"reason": reason})
            if response.status_code == 409 and tried:
                view = self.article(article_id)
                if view["status"] == "killed":
                    return httpx.Response(202, json={"version": view["version"]})
            tried = True
            return response

        response = self._retrying(delete)
        assert response.status_code == 202, response.text
        return int(response.json()["version"])

    def deliveries(self, article_id: str) -> list[dict[str, Any]]:
        """Every delivery of every version of the article (scope operate)."""
        response = self.http.get("/v1/deliveries", params={"article": article_id, "limit": 1000})
        assert response.status_code == 200, response.text
        return list(response.json()["deliveries"])

    def retry_delivery(self, delivery_id: str) -> httpx.Response:
        return self.http.post(f"/v1/deliveries/{delivery_id}/retry")

    def _retrying(
        self,
        call: Callable[[], httpx.Response],
        *,
        attempts: int = 8,
        retry_statuses: frozenset[int] | set[int] = frozenset(),
    ) -> httpx.Response:
        """Retry network errors and 5xx (the intake may lose its database connection)."""
        for attempt in range(attempts):
            try:
                response = call()
            except httpx.TransportError as exc:
                if attempt == attempts - 1:
                    raise
                self.retried.append(type(exc).__name__)
            else:
                if response.status_code < 500 and response.status_code not in retry_statuses:
                    return response
                if attempt == attempts - 1:
                    return response
                self.retried.append(str(response.status_code))
            time.sleep(0.1 * (attempt + 1))
        raise AssertionError("unreachable")


def _article(headline: str, body: str | None) -> dict[str, Any]:
    return {
        "headline": headline,
        "body": body or f"{headline}. Chaos test copy: partners, workers and databases misbehave.",
        "language": "en",
        "byline": "Chaos Desk",
        "rubric": "Tests",
    }


# -- streaming -------------------------------------------------------------------------------


@dataclass
class Streamed:
    """One article the stream submitted: the versions the intake accepted, in order."""

    id: str
    headline: str
    versions: list[int] = field(default_factory=list)
    killed: bool = False

    @property
    def last(self) -> int:
        return self.versions[-1]


class Stream:
    """Submits `count` articles at `per_second` from a background thread.

    Each article may be updated `updates` times and, every `kill_every`-th one, killed; those
    follow-ups are interleaved with later POSTs (`lag` submissions later), so versions of one
    article and new articles are in flight together. Use as a context manager; `join()` waits
    for the last submission and returns what was accepted.
    """

    def __init__(
        self,
        intake: Intake,
        *,
        count: int,
        per_second: float = 5.0,
        updates: int = 0,
        kill_every: int = 0,
        lag: int = 2,
        prefix: str = "Stream",
    ) -> None:
        self.intake = intake
        self.count = count
        self.interval = 1.0 / per_second
        self.updates = updates
        self.kill_every = kill_every
        self.lag = lag
        self.prefix = f"{prefix} {uuid.uuid4().hex[:6]}"
        self.articles: list[Streamed] = []
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name="chaos-stream", daemon=True)
        self._stop = threading.Event()

    def __enter__(self) -> Stream:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def join(self, timeout: float = 60) -> list[Streamed]:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"the stream did not finish in {timeout} s"
        if self.errors:
            raise AssertionError(f"the stream failed: {self.errors[0]!r}") from self.errors[0]
        assert len(self.articles) == self.count
        return list(self.articles)

    def _ops(self) -> Iterator[tuple[str, int]]:
        follow: list[list[tuple[str, int]]] = []
        for n in range(self.count):
            yield "post", n
            todo = [("put", n)] * self.updates
            if self.kill_every and n % self.kill_every == 0:
                todo.append(("delete", n))
            follow.append(todo)
            due = n - self.lag
            if due >= 0 and follow[due]:
                yield follow[due].pop(0)
        while any(follow):
            for todo in follow:
                if todo:
                    yield todo.pop(0)

    def _run(self) -> None:
        try:
            for op, n in self._ops():
                if self._stop.is_set():
                    return
                started = time.monotonic()
                self._do(op, n)
                self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))
        except BaseException as exc:  # reported by join(); a thread cannot raise to the test
            self.errors.append(exc)

    def _do(self, op: str, n: int) -> None:
        if op == "post":
            headline = f"{self.prefix} article {n}"
            accepted = self.intake.submit(headline)
            self.articles.append(Streamed(accepted["id"], headline, [accepted["version"]]))
            return
        article = self.articles[n]
        if op == "put":
            number = len(article.versions) + 1
            article.versions.append(
                self.intake.update(
                    article.id,
                    article.last,
                    article.headline,
                    f"{article.headline}, version {number}. Updated while things break.",
                )
            )
        else:
            article.versions.append(self.intake.kill(article.id))
            article.killed = True


# -- checks at the partner -------------------------------------------------------------------


@dataclass
class ArticleAtPartner:
    """What one partner saw of one article."""

    hits: list[Hit]
    ids_by_version: dict[int, str]  # the one webhook-id each version arrived under

    @property
    def accepted(self) -> list[Hit]:
        return [h for h in self.hits if h.accepted]

    @property
    def accepted_versions(self) -> list[int]:
        return [h.version for h in self.accepted if h.version is not None]


def check_receiver(
    receiver: ChaosReceiver,
    articles: Sequence[Streamed],
    *,
    ordered_arrivals: bool = False,
) -> dict[str, ArticleAtPartner]:
    """The guarantees a partner can rely on, for every article it saw:

    - every request is signed, and names an article the stream submitted;
    - each version arrives under one webhook-id, the same on every retry of that delivery,
      and distinct versions under distinct ids;
    - the versions it accepted (2xx, answer complete) arrive in non-decreasing order;
    - a kill is the last thing it accepted for that article;
    - with `ordered_arrivals`, even the requests it refused or dropped never go back in version.
    """
    receiver.settle()
    known = {a.id: a for a in articles}
    seen: dict[str, ArticleAtPartner] = {}
    for hit in receiver.hits:
        assert hit.signed, f"unsigned or badly signed request: {hit.request.headers}"
        assert hit.article_id is not None, hit.request.body[:200]
        assert hit.version is not None, hit.request.body[:200]
        seen.setdefault(hit.article_id, ArticleAtPartner([], {})).hits.append(hit)
    for article_id, at in seen.items():
        assert article_id in known, f"the partner got an article nobody submitted: {article_id}"
        story = describe_hits(at.hits)
        for hit in at.hits:
            assert hit.version is not None
            assert hit.version in known[article_id].versions, f"unknown version\n{story}"
            first = at.ids_by_version.setdefault(hit.version, hit.webhook_id)
            assert first == hit.webhook_id, (
                f"version {hit.version} of {article_id} came under two webhook-ids\n{story}"
            )
        ids = list(at.ids_by_version.values())
        assert len(set(ids)) == len(ids), f"two versions share a webhook-id\n{story}"
        accepted = at.accepted_versions
        assert accepted == sorted(accepted), f"versions regressed at the partner\n{story}"
        if ordered_arrivals:
            arrived = [h.version for h in at.hits if h.version is not None]
            assert arrived == sorted(arrived), f"an older version arrived after a newer\n{story}"
        kills = [i for i, h in enumerate(at.accepted) if h.event == "killed"]
        if kills:
            # A repeat of the kill itself (same webhook-id) may follow it; nothing else may.
            assert all(h.event == "killed" for h in at.accepted[kills[0] :]), (
                f"the partner accepted something after the kill\n{story}"
            )
    return seen


def describe_hits(hits: Sequence[Hit]) -> str:
    """The requests of one article, for an assertion message."""
    if not hits:
        return "  (no requests)"
    start = hits[0].received_at
    return "\n".join(
        f"  +{h.received_at - start:6.2f}s v{h.version} {h.event} {h.webhook_id} "
        f"answer={h.behaviour.status}{' drip' if h.behaviour.drip else ''}"
        f"{' hang' if h.behaviour.hang else ''} {'accepted' if h.accepted else 'not accepted'}"
        for h in hits
    )


# -- checks in the database, through the API -------------------------------------------------


def check_database(
    intake: Intake,
    articles: Sequence[Streamed],
    receivers: Mapping[str, ChaosReceiver],
    *,
    expect: Mapping[str, str] | None = None,
    operator: Intake | None = None,
) -> dict[str, dict[str, Any]]:
    """What the API says agrees with what the partners saw:

    - each article is at the last version the stream had accepted (killed if it was killed);
    - its current version goes to every outlet (a kill: at least to each outlet that saw any
      request for the article), and each such delivery is `expect[outlet]` (default:
      delivered); a delivered one was accepted by that partner under its webhook-id;
    - every earlier version's delivery is finished: delivered or canceled, none left waiting,
      and a delivered one was accepted by the partner;
    - with an `operator` (scope operate, GET /v1/deliveries): every webhook-id a partner saw
      is one of the article's deliveries to that outlet, for the version it carried, and every
      delivery of any version the API calls delivered was accepted under its webhook-id.
    Returns each article's view (GET /v1/articles/{id}).
    """
    for receiver in receivers.values():
        receiver.settle()
    views: dict[str, dict[str, Any]] = {}
    for article in articles:
        view = intake.article(article.id)
        views[article.id] = view
        assert view["version"] == article.last, view
        if article.killed:
            assert view["status"] == "killed", view
        by_outlet = {d["outlet"]: d for d in view["deliveries"]}
        if article.killed:
            # A kill goes to the outlets that may have the story: any that saw a request.
            saw = {name for name, r in receivers.items() if r.hits_for(article.id)}
            assert saw <= set(by_outlet) <= set(receivers), (
                f"the kill of {article.id} goes to {sorted(by_outlet)}; "
                f"outlets that saw the story: {sorted(saw)}"
            )
        else:
            assert set(by_outlet) == set(receivers), view["deliveries"]
        for outlet, delivery in by_outlet.items():
            receiver = receivers[outlet]
            wanted = (expect or {}).get(outlet, DELIVERED)
            story = describe_hits(receiver.hits_for(article.id))
            assert delivery["state"] == wanted, (
                f"{outlet}: {article.id} v{article.last} is {delivery['state']}, not {wanted}: "
                f"{delivery}\n{story}"
            )
            if wanted == DELIVERED:
                accepted_ids = {h.webhook_id for h in receiver.accepted_for(article.id)}
                assert webhook_id_of(delivery["id"]) in accepted_ids, (
                    f"{outlet} never accepted delivery {delivery['id']} that the API calls "
                    f"delivered\n{story}"
                )
        for version in intake.versions(article.id):
            if version["version"] == article.last:
                continue
            for outlet, state in version["deliveries"].items():
                assert state in {"delivered", "canceled"}, (
                    f"{outlet}: {article.id} v{version['version']} left {state}"
                )
                if state == DELIVERED:
                    accepted = {h.version for h in receivers[outlet].accepted_for(article.id)}
                    assert version["version"] in accepted, (
                        f"{outlet}: v{version['version']} of {article.id} is delivered in the "
                        f"database but the partner never accepted it"
                    )
        if operator is not None:
            _check_delivery_ids(operator, article, receivers)
    return views


def _check_delivery_ids(
    operator: Intake, article: Streamed, receivers: Mapping[str, ChaosReceiver]
) -> None:
    deliveries = {webhook_id_of(d["id"]): d for d in operator.deliveries(article.id)}
    for outlet, receiver in receivers.items():
        story = describe_hits(receiver.hits_for(article.id))
        for hit in receiver.hits_for(article.id):
            delivery = deliveries.get(hit.webhook_id)
            assert delivery is not None, f"{outlet}: {hit.webhook_id} is no delivery\n{story}"
            assert (delivery["outlet"], delivery["version"]) == (outlet, hit.version), (
                f"{outlet} got v{hit.version} under the id of {delivery}\n{story}"
            )
        accepted = {h.webhook_id for h in receiver.accepted_for(article.id)}
        for webhook_id, delivery in deliveries.items():
            if delivery["outlet"] == outlet and delivery["state"] == DELIVERED:
                assert webhook_id in accepted, (
                    f"{outlet} never accepted {delivery}, which the API calls delivered\n{story}"
                )


def unfinished(intake: Intake, articles: Sequence[Streamed]) -> list[str]:
    """Articles not yet at their last version with every delivery ended, described."""
    waiting = []
    for article in articles:
        view = intake.article(article.id)
        states = {d["outlet"]: d["state"] for d in view["deliveries"]}
        if (
            view["version"] != article.last
            or not (states or article.killed)  # a kill before any attempt goes nowhere
            or any(s not in FINISHED_DELIVERY_STATES for s in states.values())
        ):
            waiting.append(f"{article.id} v{view['version']}/{article.last} {states}")
    return waiting


def wait_all_finished(intake: Intake, articles: Sequence[Streamed], timeout: float) -> None:
    """Wait until every article is at its last version and each delivery of it has ended."""
    deadline = time.monotonic() + timeout
    while waiting := unfinished(intake, articles):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"after {timeout} s, {len(waiting)} of {len(articles)} article(s) still "
                "delivering:\n  " + "\n  ".join(waiting[:10])
            )
        time.sleep(0.25)


# -- processes -------------------------------------------------------------------------------


class Workers:
    """Worker subprocesses (and the scheduler) the test may SIGKILL and replace."""

    def __init__(self, settings: Settings, producer: Celery, folder: Path) -> None:
        self.settings = settings
        self.producer = producer
        self.folder = folder
        self.workers: list[CeleryProcess] = []
        self.scheduler: CeleryProcess | None = None
        self._names = itertools.count(1)

    def start(self, *, concurrency: int = 4, name: str = "worker") -> CeleryProcess:
        """A worker consuming every queue; returns once it answers a ping."""
        number = next(self._names)
        node = f"{name}{number}-{uuid.uuid4().hex[:6]}@localhost"
        queues = all_queues(o.name for o in load_outlets(self.settings))
        worker = CeleryProcess(
            self.settings,
            [
                "worker",
                "--pool",
                "threads",
                "--concurrency",
                str(concurrency),
                "--loglevel",
                "INFO",
                "--without-mingle",
                "--without-gossip",
                "-n",
                node,
                "-Q",
                ",".join(queues),
            ],
            self.folder / f"{name}{number}.log",
        )
        self.workers.append(worker)

        def answers() -> bool:
            if worker.process.poll() is not None:
                raise AssertionError(f"worker exited early:\n{worker.output()}")
            return bool(self.producer.control.ping(destination=[node], timeout=0.5))

        wait_until(answers, 30, "the worker subprocess to answer a ping", interval=0.2)
        return worker

    def beat(self) -> CeleryProcess:
        """The scheduler (its sweeper re-drives lost and due work)."""
        self.scheduler = beat_process(self.settings, self.folder / "beat.log")
        return self.scheduler

    def alive(self) -> list[CeleryProcess]:
        return [w for w in self.workers if w.process.poll() is None]

    def kill_all(self) -> int:
        """SIGKILL every live worker (not the scheduler); returns how many."""
        victims = self.alive()
        for worker in victims:
            worker.kill()
        return len(victims)

    def stop_all(self) -> None:
        for process in [*self.workers, *([self.scheduler] if self.scheduler else [])]:
            process.stop()

    def logs(self) -> str:
        processes = [*self.workers, *([self.scheduler] if self.scheduler else [])]
        return "\n".join(f"==> {p.log.name}\n{p.output()[-4000:]}" for p in processes)


def pressroom_cli(
    settings: Settings, *args: str, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """The real `pressroom` command, as an operator runs it, with the test's settings."""
    command = Path(sys.executable).with_name("pressroom")
    return subprocess.run(
        [str(command), *args],
        env={**os.environ, **settings.to_env()},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
