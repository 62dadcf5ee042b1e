"""A small SCIM 2.0 (RFC 7643/7644) client on `VendorHTTP`, shared by the Amplitude and Mixpanel connectors.

It does only what offboarding needs: find a user by `userName`, stream the users or groups page by
page (1-based `startIndex`; the page-size parameter is `count` in the RFC, `itemsPerPage` at
Amplitude), list a user's groups, add/remove group members with a PatchOp, create a user, set a
user's `active` flag and delete one. SCIM error bodies (`{"schemas": [...Error], "status": "409",
"detail": "..."}`) become our error classes, the body's `status` winning over the HTTP one when the
two disagree (409 → `ConflictError`, 404 → `NotFoundError`).

Lists are generators: a directory of thousands of people is never held in memory at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx

from vendors.base import ConflictError, NotFoundError, VendorError
from vendors.http import VendorHTTP, default_detail

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
MAX_PAGES = 10_000


def scim_filter_eq(attribute: str, value: str) -> str:
    """`userName eq "a@b.com"` with the value quoted as RFC 7644 §3.4.2.2 asks (JSON string rules)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{attribute} eq "{escaped}"'


def scim_detail(response: httpx.Response) -> str:
    """The SCIM error's `detail`, with its `scimType` (e.g. "uniqueness") when there is one."""
    detail = default_detail(response)
    try:
        body = response.json()
    except ValueError:
        return detail
    scim_type = body.get("scimType") if isinstance(body, dict) else None
    return f"{detail} ({scim_type})" if scim_type and detail else detail or str(scim_type or "")


def scim_status(response: httpx.Response) -> int:
    """The status a SCIM error body states (a string per the RFC), else the HTTP status."""
    try:
        body = response.json()
    except ValueError:
        return response.status_code
    if isinstance(body, dict):
        try:
            return int(str(body.get("status", "")))
        except ValueError:
            pass
    return response.status_code


def scim_classify(response: httpx.Response, detail: str) -> VendorError | None:
    """`classify_error` hook for `VendorHTTP`: map by the SCIM body's status when it names one."""
    status = scim_status(response)
    if status == response.status_code:
        return None  # VendorHTTP's own mapping by HTTP status applies
    where = f"{response.request.method} {response.request.url.path}"
    message = f"{where} failed ({status}{': ' + detail if detail else ''})"
    if status == 409:
        return ConflictError(message, status=status)
    if status == 404:
        return NotFoundError(message, status=status)
    return None


def user_emails(user: dict[str, Any]) -> list[str]:
    """Every address a SCIM user answers to: `userName` first, then `emails[].value`."""
    found = [str(user.get("userName") or "")]
    found += [str(e.get("value") or "") for e in user.get("emails") or [] if isinstance(e, dict)]
    return [e for e in found if e]


def user_name(user: dict[str, Any]) -> str:
    name = user.get("name") or {}
    parts = [name.get("givenName"), name.get("familyName")] if isinstance(name, dict) else []
    return user.get("displayName") or " ".join(p for p in parts if p) or str(user.get("userName", ""))


def name_from_email(email: str) -> tuple[str, str]:
    """A given and a family name guessed from an address ("ann.lee@x" → "Ann", "Lee"): SCIM providers
    want a name on create and offboard knows only the address. The person can correct it after joining."""
    local = email.split("@", 1)[0]
    parts = [p for p in re.split(r"[._+-]+", local) if p]
    if not parts:
        return local, ""
    return parts[0].title(), " ".join(p.title() for p in parts[1:])


def new_user_body(email: str) -> dict[str, Any]:
    """The RFC 7643 User resource a SCIM create takes: `userName`, `name` and the primary email."""
    given, family = name_from_email(email)
    return {"schemas": [USER_SCHEMA], "userName": email, "name": {"givenName": given, "familyName": family},
            "emails": [{"value": email, "primary": True}], "active": True}


class ScimClient:
    """SCIM calls relative to `http`'s base URL (which ends at the SCIM root, e.g. `…/scim/1`)."""

    def __init__(self, http: VendorHTTP, *, page_size_param: str = "count", page_size: int = 100) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.http = http
        self.page_size_param = page_size_param
        self.page_size = page_size

    # -- lists -------------------------------------------------------------------------------------
    def iter_resources(self, path: str, *, filter: str | None = None) -> Iterator[dict[str, Any]]:
        """Every resource of a SCIM list, one page at a time (1-based `startIndex`)."""
        start = 1
        for _ in range(MAX_PAGES):
            params = {"startIndex": str(start), self.page_size_param: str(self.page_size)}
            if filter:
                params["filter"] = filter
            page = self.http.get_json(path, params=params)
            resources = page.get("Resources") if isinstance(page, dict) else None
            if resources is None and isinstance(page, dict) and "totalResults" in page:
                resources = []  # RFC 7644 lets an empty list leave `Resources` out
            if not isinstance(resources, list):
                raise VendorError(f"{self.http.label} answered GET {path} with an unexpected shape "
                                  "(no 'Resources' list)", vendor=self.http.vendor)
            yield from (r for r in resources if isinstance(r, dict))
            total = page.get("totalResults")
            start += len(resources)
            if not resources or (isinstance(total, int) and start > total):
                return
        raise VendorError(f"{self.http.label}: GET {path} has more than {MAX_PAGES} pages", vendor=self.http.vendor)

    def users(self, *, filter: str | None = None) -> Iterator[dict[str, Any]]:
        return self.iter_resources("/Users", filter=filter)

    def groups(self) -> Iterator[dict[str, Any]]:
        return self.iter_resources("/Groups")

    # -- users -------------------------------------------------------------------------------------
    def find_user(self, email: str) -> dict[str, Any] | None:
        """The user whose `userName` (or an email) is `email`, compared case-insensitively."""
        wanted = email.strip().casefold()
        for user in self.users(filter=scim_filter_eq("userName", email.strip())):
            if wanted in (e.casefold() for e in user_emails(user)):
                return user
        return None

    def get_user(self, user_id: str) -> dict[str, Any] | None:
        try:
            return self.http.get_json(f"/Users/{_segment(user_id)}")
        except NotFoundError:
            return None

    def create_user(self, email: str, **fields: Any) -> dict[str, Any]:
        """POST /Users, with `fields` a vendor needs beside the RFC's (Amplitude: `id`). A POST is never
        retried once it may have reached the vendor (see `VendorHTTP`); a 409 (someone created them
        meanwhile) is raised as `ConflictError` for the caller to judge."""
        return self.http.send_json("POST", "/Users", {**new_user_body(email), **fields}) or {}

    def delete_user(self, user_id: str) -> bool:
        """False when the user was not there (already deleted)."""
        try:
            self.http.send_json("DELETE", f"/Users/{_segment(user_id)}")
        except NotFoundError:
            return False
        return True

    def deactivate_user(self, user_id: str) -> dict[str, Any] | None:
        """PATCH `active: false`; None when the user was not there."""
        return self.set_active(user_id, False)

    def set_active(self, user_id: str, active: bool) -> dict[str, Any] | None:
        """PATCH `active`; None when the user was not there."""
        body = {"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "active", "value": active}]}
        try:
            return self.http.send_json("PATCH", f"/Users/{_segment(user_id)}", body) or {}
        except NotFoundError:
            return None

    # -- groups ------------------------------------------------------------------------------------
    def groups_of(self, member_value: str) -> list[dict[str, Any]]:
        """The groups listing `member_value` (a user id) among their members."""
        wanted = member_value.casefold()
        return [
            group for group in self.groups()
            if any(str(m.get("value", "")).casefold() == wanted for m in group.get("members") or [])
        ]

    def patch_members(self, group_id: str, op: str, member_values: list[str]) -> None:
        if op not in ("add", "remove"):
            raise ValueError(f"unsupported member operation {op!r}")
        body = {"schemas": [PATCH_SCHEMA],
                "Operations": [{"op": op, "path": "members", "value": [{"value": v} for v in member_values]}]}
        self.http.send_json("PATCH", f"/Groups/{_segment(group_id)}", body)

    def add_to_group(self, group_id: str, member_value: str) -> None:
        self.patch_members(group_id, "add", [member_value])

    def remove_from_group(self, group_id: str, member_value: str) -> bool:
        """False when the group is gone."""
        try:
            self.patch_members(group_id, "remove", [member_value])
        except NotFoundError:
            return False
        return True


def _segment(value: str) -> str:
    # Amplitude's user ids are email addresses: "@" is allowed in a path, "/" "?" "#" must be escaped.
    return str(value).replace("%", "%25").replace("/", "%2F").replace("?", "%3F").replace("#", "%23")
