"""Prometheus metrics (prometheus-client, never hand-formatted), for /metrics.

Counters and histograms are defined once here and updated where things happen: the intake
counts requests, workers time their steps. Under `pressroom run` every process writes them to
PROMETHEUS_MULTIPROC_DIR (Settings.prometheus_multiproc_dir) and the intake's /metrics adds
them up (prometheus-client's multiprocess mode). Queue depths and ages, deliveries by state
and workers are read at scrape time from Redis and the database (ScrapeCollector), so they are
true whichever process answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

HTTP_REQUESTS = Counter(
    "pressroom_http_requests",
    "Intake requests answered, by method, route and status.",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "pressroom_http_request_duration_seconds",
    "Intake request latency, by method and route.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TASKS = Counter(
    "pressroom_tasks",
    "Steps run by workers, by stage and outcome (done, retrying, failed, skipped...).",
    ["stage", "outcome"],
)
TASK_SECONDS = Histogram(
    "pressroom_task_duration_seconds",
    "Time a worker spent on one step, by stage and outcome.",
    ["stage", "outcome"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)


class ScrapeCollector(Collector):
    """Gauges computed when Prometheus asks: `read()` returns the families to expose."""

    def __init__(self, read: Callable[[], list[Metric]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        yield from self._read()


class _ThisProcess(Collector):
    """This process's own counters, when there is no multiprocess folder to read them from."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def registry_for(multiproc_dir: Path | None, scrape: Collector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if multiproc_dir is not None:
        MultiProcessCollector(registry, path=str(multiproc_dir))  # type: ignore[no-untyped-call]
    else:
        registry.register(_ThisProcess())
    registry.register(scrape)
    return registry


def gauge(name: str, doc: str, labels: list[str], rows: list[tuple[list[str], float]]) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for values, value in rows:
        family.add_metric(values, value)
    return family
