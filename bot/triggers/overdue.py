"""The daily list in the admin channel of leavers past their removal deadline whose removal is still open
(a periodic job of bot.runtime.scheduled_work, so it is posted once a day across instances)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlmodel import col, select

from bot.slack.post import SlackPoster, info_message
from bot.triggers.deadline import policy, removal_times, span
from bot.triggers.text import escape
from storage.db import Database
from storage.models import OPEN_STATUSES, OffboardRequest, utcnow

OVERDUE_JOB = "overdue_removals"


class OverdueList:
    """The daily list of leavers past their removal deadline whose removal is still open."""

    def __init__(self, db: Database, poster: SlackPoster, channel: str,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.db, self.poster, self.channel, self.clock = db, poster, channel, clock

    def overdue(self, now: datetime) -> list[tuple[OffboardRequest, timedelta]]:
        with self.db.session() as session:
            open_requests = session.exec(select(OffboardRequest).where(
                col(OffboardRequest.status).in_(OPEN_STATUSES)).order_by(col(OffboardRequest.id))).all()
            # Open but with the access gone (a checklist left for a person): not a leaver with access.
            removed = removal_times(session, [r.id for r in open_requests if r.id is not None])
        late = []
        for request in open_requests:
            due = policy().due(request)
            if due is not None and now > due and removed.get(request.id or 0) is None:
                late.append((request, now - due))
        return late

    def run(self, now: datetime | None = None) -> int:
        now = now or self.clock()
        late = self.overdue(now)
        if not late:
            return 0
        lines = [f"• {escape(r.subject_email)}: request #{r.id}, {r.status.replace('_', ' ')}, "
                 f"overdue by {span(gap)}" for r, gap in late]
        text = (f":red_circle: *{len(late)} leaver(s) past their removal deadline still have access somewhere:*\n"
                + "\n".join(lines))
        self.poster.post(self.channel, info_message(text, f"{len(late)} leaver(s) past their removal deadline"))
        return len(late)
