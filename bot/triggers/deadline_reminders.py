"""Reminders that escalate as a removal deadline nears: a reply in the card's thread when it is close
(`NEARING`, 4 hours by default), then, once it has passed, a reply also shown in the channel. Each is a row
made before it is posted (one per request and stage across instances) and posted until Slack takes it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.slack.post import SlackPoster, info_message
from bot.triggers.deadline import policy, removal_times, span
from bot.triggers.text import escape
from storage.db import Database
from storage.models import OPEN_STATUSES, DeadlineNotice, OffboardRequest, utcnow

log = logging.getLogger(__name__)

NEARING = timedelta(hours=4)


class DeadlineReminders:
    def __init__(self, db: Database, poster: SlackPoster, clock: Callable[[], datetime] = utcnow,
                 nearing: timedelta = NEARING) -> None:
        self.db, self.poster, self.clock, self.nearing = db, poster, clock, nearing

    def tick(self, now: datetime | None = None) -> None:
        now = now or self.clock()
        with self.db.session() as session:
            open_requests = session.exec(select(OffboardRequest).where(
                col(OffboardRequest.status).in_(OPEN_STATUSES), col(OffboardRequest.card_ts).is_not(None))).all()
            removed = removal_times(session, [r.id for r in open_requests if r.id is not None])
        for request in open_requests:
            due = policy().due(request)
            if due is None or request.id is None or removed.get(request.id) is not None:
                continue  # no deadline, or the access is gone (a checklist may still be a person's)
            if now >= due:
                self._owe(request.id, "passed", now)
            elif now >= due - self.nearing:
                self._owe(request.id, "nearing", now)
        self.post_owed(now)

    def _owe(self, request_id: int, stage: str, now: datetime) -> None:
        try:
            with self.db.session() as session:
                session.add(DeadlineNotice(request_id=request_id, stage=stage, created_at=now))
        except IntegrityError:
            pass  # owed already (by this instance or another)

    def post_owed(self, now: datetime) -> int:
        with self.db.session() as session:
            owed = session.exec(select(DeadlineNotice, OffboardRequest)
                                .join(OffboardRequest, col(OffboardRequest.id) == col(DeadlineNotice.request_id))
                                .where(col(DeadlineNotice.posted_at).is_(None))).all()
            removed = removal_times(session, [r.id for _, r in owed if r.id is not None])
            work = [(n.id, n.stage, r.subject_email, r.id, r.card_channel, r.card_ts, policy().due(r),
                     r.status not in OPEN_STATUSES or removed.get(r.id or 0) is not None) for n, r in owed]
        posted = 0
        for notice_id, stage, email, request_id, channel, ts, due, finished in work:
            if finished or due is None or not channel or not ts:
                text = ""  # finished meanwhile: nothing to remind of
            elif stage == "passed":
                text = (f":red_circle: The removal of {escape(email)} (request #{request_id}) is past its deadline "
                        f"by {span(now - due)}.")
            else:
                text = (f":large_orange_circle: {span(due - now)} left to remove {escape(email)} "
                        f"(request #{request_id}).")
            try:
                if text and channel and ts:
                    self.poster.post(channel, info_message(text), thread_ts=ts, broadcast=stage == "passed")
            except Exception as exc:  # stays owed: the next tick posts it
                log.warning("could not post the deadline reminder for request #%s: %s", request_id, exc)
                continue
            with self.db.session() as session:
                session.execute(update(DeadlineNotice).where(col(DeadlineNotice.id) == notice_id)
                                .values(posted_at=now))
            posted += 1 if text else 0
        return posted
