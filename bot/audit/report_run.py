"""Making the audit report for a period, from the command line or from Slack: the period's words, the
witnessed heads when asked, the HTML, and the audit entry that records who took it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from bot.audit import evidence
from bot.audit.report import DEFAULT_DEADLINE_HOURS, AuditReport, build_report
from bot.audit.report_html import render_html
from bot.cli.witness import Witnessed
from storage import witness

REPORTED = "audit_report_made"
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Made:
    report: AuditReport
    html: str

    @property
    def filename(self) -> str:
        return f"offboard-audit-report-{self.report.start:%Y-%m-%d}-to-{last_day(self.report):%Y-%m-%d}.html"


def last_day(report: AuditReport) -> datetime:
    return report.end - timedelta(microseconds=1)


def parse_period(start_text: str, end_text: str) -> tuple[datetime, datetime]:
    """[start, end) from two dates; a plain date as the end means the whole of that day. ValueError for
    people when a date is not one or the period is empty."""
    start = evidence.parse_since(start_text)
    end = evidence.parse_since(end_text)
    if _DAY.fullmatch(end_text.strip()):
        end += timedelta(days=1)
    if end <= start:
        raise ValueError(f"the period ends ({end_text}) before it starts ({start_text})")
    return start, end


def make_report(session: Session, start: datetime, end: datetime, *, now: datetime, actor: str, via: str,
                witnessed: Witnessed | None = None, seat_cost: Mapping[str, float] | None = None,
                deadline_hours: float = DEFAULT_DEADLINE_HOURS, labels: Mapping[str, str] | None = None) -> Made:
    """The report, and the audit entry saying who took it, in the caller's transaction."""
    checked = witness.check_witnessed(session, witnessed.heads, witnessed.public) if witnessed else None
    report = build_report(session, start, end, generated_at=now, deadline_hours=deadline_hours, witness=checked,
                          witnessed_heads=witnessed.heads if witnessed else (),
                          witness_source=witnessed.where if witnessed else "", seat_cost=seat_cost, labels=labels)
    evidence.record_access(session, REPORTED, actor, via=via, format="html", since=start, until=end,
                           rows=len(report.leavers), request_ids=[leaver.request_id for leaver in report.leavers])
    return Made(report, render_html(report))
