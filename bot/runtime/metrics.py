"""Prometheus metrics on /metrics (the health port, OFFBOARD_HEALTH_PORT).

Counted as they happen: vendor API call latency and 429s (vendors.call_metrics), in Socket Mode the time
from an envelope being taken up to its ack, and in HTTP mode the time from a request being read to its answer
being written (measured in the ack front's process, bot.runtime.front, and sent here over its pipe:
bot.runtime.front_link).
Read from the database at each scrape, so every instance reports the same truth and nothing is lost on a restart:
requests by status, steps by tool, kind and status, cards owed to Slack (requests past assessment whose card has
not landed yet), and the time from a request to its verified removal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlmodel import col, select

from storage.db import Database
from storage.models import OffboardRequest, RequestStatus, Step, StepStatus
from vendors import call_metrics
from vendors.base import StepKind

REGISTRY = CollectorRegistry(auto_describe=True)
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 3.0)  # Slack waits 3 s at most
SOCKET_ACK_SECONDS = Histogram(
    "offboard_socket_ack_seconds", "Socket Mode: time from an envelope being taken up to its ack, by envelope type.",
    ["type"], registry=REGISTRY, buckets=ACK_BUCKETS,
)
HTTP_ACK_SECONDS = Histogram(
    "offboard_http_ack_seconds", "HTTP mode: time from a request being read to its answer being written, in the "
    "ack front, by kind (command, action, view, event, trigger, refused, other).",
    ["kind"], registry=REGISTRY, buckets=ACK_BUCKETS,
)
REMOVAL_BUCKETS = (60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 86400.0, 3 * 86400.0, 7 * 86400.0, 30 * 86400.0)


class DatabaseCollector(Collector):
    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[Metric]:
        requests = GaugeMetricFamily("offboard_requests", "Offboarding requests, by status.", labels=["status"])
        steps = GaugeMetricFamily("offboard_steps", "Steps, by tool, kind and status.",
                                  labels=["tool", "kind", "status"])
        owed = GaugeMetricFamily("offboard_cards_owed",
                                 "Requests past assessment whose approval card has not reached Slack yet.")
        with self.db.session() as session:
            by_status = dict(session.exec(  # type: ignore[call-overload]
                select(OffboardRequest.status, func.count()).group_by(OffboardRequest.status)).all())
            for status in RequestStatus:
                requests.add_metric([status.value], by_status.get(status.value, 0))
            for tool, kind, status, count in session.exec(  # type: ignore[call-overload]
                    select(Step.vendor, Step.kind, Step.status, func.count())
                    .group_by(Step.vendor, Step.kind, Step.status)).all():
                steps.add_metric([tool, kind, status], count)
            owed.add_metric([], session.exec(  # type: ignore[call-overload]
                select(func.count()).select_from(OffboardRequest)
                .where(col(OffboardRequest.card_ts).is_(None), OffboardRequest.status != RequestStatus.ASSESSING)
            ).one())
            durations = [(_aware(done) - _aware(created)).total_seconds() for created, done in session.exec(
                select(OffboardRequest.created_at, Step.finished_at)
                .join(Step, col(Step.request_id) == col(OffboardRequest.id))
                .where(Step.kind == StepKind.VERIFY_REMOVED, Step.status == StepStatus.DONE,
                       col(Step.finished_at).is_not(None))).all()]
        yield requests
        yield steps
        yield owed
        yield _histogram("offboard_request_to_verified_removal_seconds",
                         "Time from a request to a tool's verified removal.", durations, REMOVAL_BUCKETS)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _histogram(name: str, documentation: str, values: list[float], bounds: tuple[float, ...]) -> Metric:
    counts = [sum(1 for v in values if v <= bound) for bound in bounds]
    buckets = [(repr(bound), count) for bound, count in zip(bounds, counts, strict=True)]
    buckets.append(("+Inf", len(values)))
    return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=sum(values))


def endpoint(db: Database) -> Callable[[], tuple[bytes, str]]:
    """What HealthServer serves on /metrics: the counters, and the database's figures read now."""
    from_database = CollectorRegistry(auto_describe=False)
    from_database.register(DatabaseCollector(db))

    def render() -> tuple[bytes, str]:
        body = b"".join(generate_latest(r) for r in (REGISTRY, call_metrics.REGISTRY, from_database))
        return body, CONTENT_TYPE_LATEST

    return render
