"""Who people are in Slack, and who may approve."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SlackPerson:
    user_id: str
    name: str
    email: str | None
    deleted: bool = False
    is_bot: bool = False


class SlackDirectory:
    """Looks people up in Slack. The approver group's members are cached briefly so a burst of
    clicks does not become a burst of `usergroups.users.list` calls."""

    def __init__(
        self,
        client: WebClient,
        approver_ids: Iterable[str] = (),
        approver_group: str = "",
        *,
        group_ttl_seconds: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.approver_ids = frozenset(approver_ids)
        self.approver_group = approver_group
        self._group_ttl = group_ttl_seconds
        self._monotonic = monotonic
        self._group_members: frozenset[str] = frozenset()
        self._group_loaded_at: float | None = None
        self._lock = threading.Lock()

    def by_id(self, user_id: str) -> SlackPerson | None:
        try:
            user = self.client.users_info(user=user_id)["user"]
        except SlackApiError as exc:
            if exc.response.get("error") == "user_not_found":
                return None
            raise
        return _person(user)

    def by_email(self, email: str) -> SlackPerson | None:
        try:
            user = self.client.users_lookupByEmail(email=email)["user"]
        except SlackApiError as exc:
            if exc.response.get("error") == "users_not_found":
                return None
            raise
        return _person(user)

    def may_approve(self, user_id: str) -> bool:
        if user_id in self.approver_ids:
            return True
        return bool(self.approver_group) and user_id in self._approver_group_members()

    def approvers(self) -> frozenset[str]:
        """Everyone who may approve (listed ids and the group's members), deactivated or not."""
        group = self._approver_group_members() if self.approver_group else frozenset()
        return self.approver_ids | group

    def _approver_group_members(self) -> frozenset[str]:
        with self._lock:
            now = self._monotonic()
            fresh = self._group_loaded_at is not None and now - self._group_loaded_at < self._group_ttl
            if not fresh:
                try:
                    users = self.client.usergroups_users_list(usergroup=self.approver_group)["users"]
                    self._group_members, self._group_loaded_at = frozenset(users), now
                except SlackApiError as exc:
                    # Keep the last known members: a Slack hiccup must not grant or revoke approval rights.
                    log.warning("could not read approver group %s: %s", self.approver_group, exc)
            return self._group_members


def _person(user: dict) -> SlackPerson:
    profile = user.get("profile") or {}
    name = profile.get("real_name") or user.get("real_name") or user.get("name") or user["id"]
    return SlackPerson(
        user_id=user["id"],
        name=name,
        email=(profile.get("email") or "").lower() or None,
        deleted=bool(user.get("deleted")),
        is_bot=bool(user.get("is_bot")),
    )
