"""An in-memory SCIM 2.0 service provider over real HTTP: the base of the Amplitude and Mixpanel sandboxes.

What it reproduces (RFC 7644 unless a subclass says otherwise): `/Users` and `/Groups` lists with a
1-based `startIndex` and a page-size parameter whose name and maximum each vendor picks, the
`userName eq "…"` filter (case-insensitive, as `userName` is, unless a subclass serves the exact
match a vendor may do: `filter_case_sensitive`), get, create (409 when taken), PUT and
PATCH (`active`), DELETE → 204, group PatchOps that add or remove members, Bearer-token auth (401),
and every error — 429 with `Retry-After` included — in the SCIM error shape.

A page costs what it returns, not the whole directory: the users are kept in the order they were
added, with an index by `userName` (`UserTable`), so a sweep reading 100,000 users in 1,000 pages
does 1,000 pages' work, not 1,000 times the directory's.

Subclasses set the class attributes, seed their world in `seed()`, and may refuse or change what a
call does through the hooks (`invalid_create`, `refuse_create`, `refuse_removal`, `refuse_group_change`,
`on_deactivate`, `group_json`). Every helper takes the state lock, so tests may call them while the
server is answering.

`writes_about(email)` counts the mutating calls about a person that reached the API (past auth and
injected faults), whatever the answer: a user POST/PUT/PATCH/DELETE naming them (by id or
`userName`), and a group POST/PATCH/DELETE adding or removing them. A refused call counts too: the
connector did send it.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, ItemsView, Iterable, Iterator, KeysView, MutableMapping, Sequence, ValuesView
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import unquote

from vendors.sandbox.server import Fault, LoopbackServer, Request, Response

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"

_EQ_FILTER = re.compile(r'^\s*(?P<attr>\w+)\s+eq\s+"(?P<value>(?:[^"\\]|\\.)*)"\s*$', re.IGNORECASE)

# Realistic names for the filler people, combined deterministically.
FIRST_NAMES = ("Ada", "Ben", "Chloe", "Dan", "Eva", "Finn", "Grace", "Hugo", "Iris", "Jon", "Kira", "Liam",
               "Maya", "Noah", "Olga", "Paul", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Vic", "Wen", "Yara", "Zoe")
LAST_NAMES = ("Adams", "Baker", "Costa", "Dietrich", "Evans", "Fischer", "Garcia", "Hansen", "Ito", "Jensen",
              "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor")


def scim_error(status: int, detail: str, scim_type: str | None = None, headers: dict[str, str] | None = None
               ) -> Response:
    body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return Response(status, body, headers or {})


def filler_people(count: int, domain: str = "corp.com") -> list[tuple[str, str, str]]:
    """`count` deterministic (email, given, family) triples, all different."""
    people = []
    for i in range(count):
        given, family = FIRST_NAMES[i % len(FIRST_NAMES)], LAST_NAMES[(i // len(FIRST_NAMES)) % len(LAST_NAMES)]
        people.append((f"{given.lower()}.{family.lower()}{i:03d}@{domain}", given, family))
    return people


@dataclass
class ScimUser:
    id: str
    user_name: str
    given_name: str
    family_name: str
    active: bool = True
    extra: dict[str, Any] = field(default_factory=dict)  # vendor state SCIM does not show (role, pending...)

    def to_json(self) -> dict[str, Any]:
        return {
            "schemas": [USER_SCHEMA],
            "id": self.id,
            "userName": self.user_name,
            "name": {"givenName": self.given_name, "familyName": self.family_name},
            "active": self.active,
            "emails": [{"value": self.user_name, "primary": True}],
            "meta": {"resourceType": "User"},
        }


class UserTable(MutableMapping[str, ScimUser]):
    """The users by key (their id, case-folded where ids are case-insensitive), in the order they were
    added, plus an index by case-folded `userName`: a list page is a slice and a `userName eq` filter a
    lookup. Removing someone costs a scan of the order, which is fine: removals are one at a time."""

    def __init__(self) -> None:
        self._by_key: dict[str, ScimUser] = {}
        self._order: list[str] = []  # the keys, in the order the users were added
        self._by_name: dict[str, str] = {}  # case-folded userName → key of the first user with it

    def __getitem__(self, key: str) -> ScimUser:
        return self._by_key[key]

    def __setitem__(self, key: str, user: ScimUser) -> None:
        if key in self._by_key:  # replaced in place, as in a dict
            self._forget_name(key, self._by_key[key])
        else:
            self._order.append(key)
        self._by_key[key] = user
        self._by_name.setdefault(user.user_name.casefold(), key)

    def __delitem__(self, key: str) -> None:
        user = self._by_key.pop(key)
        self._order.remove(key)
        self._forget_name(key, user)

    def _forget_name(self, key: str, user: ScimUser) -> None:
        name = user.user_name.casefold()
        if self._by_name.get(name) != key:
            return
        del self._by_name[name]
        # Another user with the same userName (only tests' helpers make one) is found next.
        same = next((k for k in self._order if k != key and self._by_key[k].user_name.casefold() == name), None)
        if same is not None:
            self._by_name[name] = same

    def __iter__(self) -> Iterator[str]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._by_key)

    # dict's own views: the mixins' would look every key up again
    def keys(self) -> KeysView[str]:
        return self._by_key.keys()

    def values(self) -> ValuesView[ScimUser]:
        return self._by_key.values()

    def items(self) -> ItemsView[str, ScimUser]:
        return self._by_key.items()

    def named(self, user_name: str) -> ScimUser | None:
        """The user whose `userName` is `user_name`, compared case-insensitively."""
        key = self._by_name.get(user_name.casefold())
        return self._by_key[key] if key is not None else None

    def slice(self, offset: int, size: int) -> list[ScimUser]:
        return [self._by_key[key] for key in self._order[offset:offset + size]]


@dataclass
class ScimGroup:
    id: str
    display_name: str
    members: list[str] = field(default_factory=list)  # user ids
    extra: dict[str, Any] = field(default_factory=dict)


class ScimSandbox(LoopbackServer):
    """Subclasses set these and implement `seed()`."""

    name = "scim-sandbox"
    base_path = "/scim/v2"
    page_size_param = "count"
    max_page_size = 100
    token = "scim-sandbox-token"
    ids_case_insensitive = False  # Amplitude: the id is the email, compared case-insensitively
    # Whether `userName eq "…"` compares exactly. RFC 7643 makes userName case-insensitive; a vendor that does not
    # document its filter's case rule is served the worst case (exact), so a connector cannot rely on it.
    filter_case_sensitive = False
    group_created_status = 201

    def __init__(self, *, seed: bool = True, page_size: int | None = None, port: int = 0, latency: float = 0.0,
                 rate_limit_per_minute: int | None = None) -> None:
        super().__init__(port=port, latency=latency, rate_limit_per_minute=rate_limit_per_minute)
        self._state = threading.RLock()
        self._register_scim_routes()
        self.reset(seed=seed, page_size=page_size)

    def reset(self, *, seed: bool = True, page_size: int | None = None) -> None:
        """A fresh world (and no faults), keeping the server running. `page_size` caps every page below
        the vendor's own maximum, so a test sees several pages without seeding thousands of people."""
        with self._state:
            self.page_size = min(page_size or self.max_page_size, self.max_page_size)
            self.users = UserTable()  # by id (case-folded when ids are case-insensitive)
            self.groups: dict[str, ScimGroup] = {}
            self._next_id = 1
            self.received: list[tuple[str, str]] = []  # written before answering, unlike `log`
            self.delete_counts: Counter[str] = Counter()  # successful user DELETEs, by email
            self.deactivations: Counter[str] = Counter()  # successful active:false, by email
            self.group_removals: list[tuple[str, str]] = []  # (group name, email)
            self.writes: Counter[str] = Counter()  # mutating calls about a person, by case-folded email
            if seed:
                self.seed()
        self.clear_faults()
        with self._lock:
            self.log.clear()

    def seed(self) -> None:
        """Subclasses build their demo world here."""

    def dispatch(self, request: Request) -> Response | None:
        if not request.path.startswith("/_sandbox/"):
            with self._state:
                self.received.append((request.method, request.path))
        return super().dispatch(request)

    def start(self) -> Self:
        super().start()
        return self

    def __enter__(self) -> Self:
        return self.start()

    # -- hooks of the base server ------------------------------------------------------------------
    def throttled(self, retry_after: int) -> Response:
        # UNVERIFIED: neither vendor documents its 429 body; we send the SCIM error shape + Retry-After.
        return scim_error(429, "Too many requests. Try again later.", headers={"Retry-After": str(retry_after)})

    def not_found(self) -> Response:
        return scim_error(404, "Resource not found")

    def authorize(self, request: Request) -> Response | None:
        if not request.path.startswith(self.base_path + "/"):
            return None
        if request.bearer_token != self.token:
            return scim_error(401, "Authorization failure. The authorization header is invalid or missing.")
        return None

    # -- hooks for subclasses ----------------------------------------------------------------------
    def invalid_create(self, body: dict[str, Any]) -> Response | None:
        """Called first on a user POST: a body the vendor rejects by its shape (400)."""
        return None

    def refuse_create(self, user_name: str) -> Response | None:
        return None

    def refuse_removal(self, user: ScimUser) -> Response | None:
        """Called before a DELETE or `active: false` takes effect."""
        return None

    def refuse_group_change(self, group: ScimGroup, op: str, user: ScimUser) -> Response | None:
        """Called before a group PatchOp adds (`op` "add") or removes ("remove") `user`."""
        return None

    def on_deactivate(self, user: ScimUser) -> None:
        """What `active: false` does; by default the user stays, inactive."""
        user.active = False

    def group_json(self, group: ScimGroup) -> dict[str, Any]:
        return {
            "schemas": [GROUP_SCHEMA],
            "id": group.id,
            "displayName": group.display_name,
            "members": [{"value": m, "display": self._user_name_of(m)} for m in group.members],
            "meta": {"resourceType": "Group"},
        }

    def new_user_id(self, user_name: str) -> str:
        user_id = str(self._next_id)
        self._next_id += 1
        return user_id

    # -- Python helpers for tests and seeding --------------------------------------------------------
    def add_user(self, email: str, given: str = "", family: str = "", *, active: bool = True, **extra: Any
                 ) -> ScimUser:
        with self._state:
            user = ScimUser(self.new_user_id(email), email, given or email.split("@")[0].title(), family, active,
                            dict(extra))
            self.users[self._key(user.id)] = user
            return user

    def add_group(self, name: str, members: Iterable[str] = (), **extra: Any) -> ScimGroup:
        with self._state:
            group = ScimGroup(str(self._next_id), name, [], dict(extra))
            self._next_id += 1
            for email in members:
                found = self.user(email)
                assert found, f"no user {email}"
                group.members.append(found.id)
            self.groups[group.id] = group
            return group

    def user(self, email: str) -> ScimUser | None:
        with self._state:
            return self.users.named(email)

    def group(self, name: str) -> ScimGroup | None:
        with self._state:
            return next((g for g in self.groups.values() if g.display_name == name), None)

    def groups_of(self, email: str) -> list[str]:
        with self._state:
            found = self.user(email)
            return [g.display_name for g in self.groups.values() if found and found.id in g.members]

    def writes_about(self, email: str) -> int:
        with self._state:
            return self.writes[email.casefold()]

    def delete_count(self, email: str) -> int:
        with self._state:
            return self.delete_counts[email.casefold()]

    def requests(self, method: str | None = None, path_pattern: str | None = None) -> list[tuple[str, str]]:
        with self._state:
            return [(m, p) for m, p in self.received
                    if (method is None or m == method) and (path_pattern is None or re.search(path_pattern, p))]

    def throttle(self, seconds: int, *, times: int | None = 1, path_pattern: str | None = None) -> Fault:
        """Answer the next `times` calls with a SCIM-shaped 429 and `Retry-After: seconds`."""
        response = self.throttled(seconds)
        fault = Fault("status", 429, response.body, response.headers, path_pattern=path_pattern, times=times)
        self.inject(fault)
        return fault

    # -- routes --------------------------------------------------------------------------------------
    def _register_scim_routes(self) -> None:
        base = re.escape(self.base_path)
        self.route("GET", base + r"/Users", self._list_users)
        self.route("POST", base + r"/Users", self._create_user)
        self.route("GET", base + r"/Users/(?P<id>[^/]+)", self._get_user)
        self.route("PUT", base + r"/Users/(?P<id>[^/]+)", self._put_user)
        self.route("PATCH", base + r"/Users/(?P<id>[^/]+)", self._patch_user)
        self.route("DELETE", base + r"/Users/(?P<id>[^/]+)", self._delete_user)
        self.route("GET", base + r"/Groups", self._list_groups)
        self.route("POST", base + r"/Groups", self._create_group)
        self.route("GET", base + r"/Groups/(?P<id>[^/]+)", self._get_group)
        self.route("PATCH", base + r"/Groups/(?P<id>[^/]+)", self._patch_group)
        self.route("DELETE", base + r"/Groups/(?P<id>[^/]+)", self._delete_group)

    def _list_users(self, request: Request) -> Response:
        with self._state:
            wanted = request.arg("filter")
            if wanted:
                match = _EQ_FILTER.match(wanted)
                if not match or match["attr"].lower() != "username":
                    return scim_error(400, f"Unsupported filter: {wanted}", "invalidFilter")
                value = match["value"].replace('\\"', '"').replace("\\\\", "\\")
                found = self.users.named(value)
                if found is not None and self.filter_case_sensitive and found.user_name != value:
                    found = None
                matches = [found] if found else []
                return self._page(request, len(matches), lambda offset, size: matches[offset:offset + size],
                                  ScimUser.to_json)
            return self._page(request, len(self.users), self.users.slice, ScimUser.to_json)

    def _page(self, request: Request, total: int, take: Callable[[int, int], Sequence[Any]],
              to_json: Callable[[Any], dict[str, Any]]) -> Response:
        """One page of a list of `total` resources: `take(offset, size)` gives the page's, and only
        they are rendered."""
        try:
            start = max(1, int(request.arg("startIndex", "1") or 1))  # RFC: values below 1 mean 1
            size = int(request.arg(self.page_size_param, str(self.page_size)) or self.page_size)
        except ValueError:
            return scim_error(400, "startIndex and the page size must be integers", "invalidValue")
        size = max(0, min(size, self.page_size))
        page = [to_json(item) for item in take(start - 1, size)]
        return Response(200, {"schemas": [LIST_SCHEMA], "totalResults": total, "startIndex": start,
                              "itemsPerPage": len(page), "Resources": page})

    def _create_user(self, request: Request) -> Response:
        body = request.json() or {}
        user_name = str(body.get("userName") or "").strip()
        if not user_name:
            return scim_error(400, "userName is required", "invalidValue")
        with self._state:
            self._note_write(user_name)
            invalid = self.invalid_create(body)  # refused, yet sent: it counts
            if invalid is not None:
                return invalid
            if self.user(user_name):
                return scim_error(409, f"User {user_name} already exists", "uniqueness")
            refusal = self.refuse_create(user_name)
            if refusal:
                return refusal
            name = body.get("name") or {}
            user = self.add_user(user_name, name.get("givenName", ""), name.get("familyName", ""))
            return Response(201, user.to_json())

    def _find(self, raw_id: str) -> ScimUser | None:
        return self.users.get(self._key(unquote(raw_id)))

    def _get_user(self, request: Request) -> Response:
        with self._state:
            user = self._find(request.params["id"])
            return Response(200, user.to_json()) if user else self.not_found()

    def _put_user(self, request: Request) -> Response:
        self._note_user_write(request.params["id"])
        body = request.json() or {}
        return self._set_active(request.params["id"], body.get("active", True))

    def _patch_user(self, request: Request) -> Response:
        self._note_user_write(request.params["id"])
        body = request.json() or {}
        if PATCH_SCHEMA not in (body.get("schemas") or []):
            return scim_error(400, "Request is not a PatchOp", "invalidSyntax")
        active: Any = None
        for op in body.get("Operations") or []:
            if str(op.get("op", "")).lower() != "replace":
                continue
            value = op.get("value")
            if str(op.get("path", "")).lower() == "active":
                active = value
            elif not op.get("path") and isinstance(value, dict) and "active" in value:
                active = value["active"]
        return self._set_active(request.params["id"], active)

    def _set_active(self, raw_id: str, active: Any) -> Response:
        with self._state:
            user = self._find(raw_id)
            if not user:
                return self.not_found()
            if active is False and user.active:
                refusal = self.refuse_removal(user)
                if refusal:
                    return refusal
                self.deactivations[user.user_name.casefold()] += 1
                self.on_deactivate(user)
            elif active is True:
                user.active = True
            current = self._find(raw_id)
            return Response(200, current.to_json() if current else user.to_json())

    def _delete_user(self, request: Request) -> Response:
        with self._state:
            self._note_user_write(request.params["id"])
            user = self._find(request.params["id"])
            if not user:
                return self.not_found()
            refusal = self.refuse_removal(user)
            if refusal:
                return refusal
            self._drop(user)
            self.delete_counts[user.user_name.casefold()] += 1
            return Response(204)

    def _drop(self, user: ScimUser) -> None:
        del self.users[self._key(user.id)]
        for group in self.groups.values():
            if user.id in group.members:
                group.members.remove(user.id)

    def _list_groups(self, request: Request) -> Response:
        with self._state:
            groups = list(self.groups.values())
            wanted = request.arg("filter")
            if wanted:
                match = _EQ_FILTER.match(wanted)
                if not match or match["attr"].lower() != "displayname":
                    return scim_error(400, f"Unsupported filter: {wanted}", "invalidFilter")
                groups = [g for g in groups if g.display_name == match["value"]]
            return self._page(request, len(groups), lambda offset, size: groups[offset:offset + size],
                              self.group_json)

    def _create_group(self, request: Request) -> Response:
        body = request.json() or {}
        name = str(body.get("displayName") or "").strip()
        if not name:
            return scim_error(400, "displayName is required", "invalidValue")
        with self._state:
            if self.group(name):
                return scim_error(409, f"Group {name} already exists", "uniqueness")
            members = [str(m.get("value", "")) for m in body.get("members") or []]
            for member in members:
                self._note_user_write(member)
            unknown = [m for m in members if not self._find(m)]
            if unknown:
                return scim_error(400, f"Unknown members: {', '.join(unknown)}", "invalidValue")
            group = self.add_group(name, [self._find(m).user_name for m in members])  # type: ignore[union-attr]
            return Response(self.group_created_status, self.group_json(group))

    def _get_group(self, request: Request) -> Response:
        with self._state:
            group = self.groups.get(unquote(request.params["id"]))
            return Response(200, self.group_json(group)) if group else self.not_found()

    def _patch_group(self, request: Request) -> Response:
        body = request.json() or {}
        if PATCH_SCHEMA not in (body.get("schemas") or []):
            return scim_error(400, "Request is not a PatchOp", "invalidSyntax")
        with self._state:
            for op in body.get("Operations") or []:
                values = op.get("value")
                for entry in values if isinstance(values, list) else []:
                    self._note_user_write(str(entry.get("value", "")))
            group = self.groups.get(unquote(request.params["id"]))
            if not group:
                return self.not_found()
            changes, refusal = self._member_changes(group, body.get("Operations") or [])
            if refusal:
                return refusal
            for kind, user in changes:  # all checked first, so a refused PatchOp changes nothing
                if kind == "add" and user.id not in group.members:
                    group.members.append(user.id)
                elif kind == "remove" and user.id in group.members:
                    group.members.remove(user.id)
                    self.group_removals.append((group.display_name, user.user_name))
            return Response(200, self.group_json(group))

    def _member_changes(self, group: ScimGroup, operations: list[dict[str, Any]]
                        ) -> tuple[list[tuple[str, ScimUser]], Response | None]:
        changes: list[tuple[str, ScimUser]] = []
        for op in operations:
            kind = str(op.get("op", "")).lower()
            if kind not in ("add", "remove") or str(op.get("path", "")).lower() != "members":
                return [], scim_error(400, f"Unsupported operation: {op}", "invalidPath")
            for entry in op.get("value") or []:
                user = self._find(str(entry.get("value", "")))
                if user is None:
                    if kind == "add":
                        return [], scim_error(400, f"Unknown member {entry.get('value')}", "invalidValue")
                    continue  # removing someone who is not there is a no-op
                if (kind == "add") != (user.id in group.members):  # only real changes meet the vendor's rules
                    refusal = self.refuse_group_change(group, kind, user)
                    if refusal:
                        return [], refusal
                changes.append((kind, user))
        return changes, None

    def _delete_group(self, request: Request) -> Response:
        with self._state:
            group = self.groups.get(unquote(request.params["id"]))
            if group is None:
                return self.not_found()
            members = [u for u in (self.users.get(self._key(m)) for m in group.members) if u]
            for user in members:
                self._note_write(user.user_name)
            for user in members:
                refusal = self.refuse_group_change(group, "remove", user)
                if refusal:
                    return refusal
            del self.groups[group.id]
            return Response(204)

    # -- helpers -------------------------------------------------------------------------------------
    def _key(self, user_id: str) -> str:
        return user_id.casefold() if self.ids_case_insensitive else user_id

    def _note_write(self, email: str) -> None:
        self.writes[email.casefold()] += 1

    def _note_user_write(self, raw_id: str) -> None:
        """Count a write about the user `raw_id` names: by their email when known (an unknown id is
        counted as given, which at Amplitude, where the id is the email, is the email too)."""
        with self._state:
            user = self._find(raw_id)
            self._note_write(user.user_name if user else unquote(raw_id))

    def _user_name_of(self, user_id: str) -> str:
        user = self.users.get(self._key(user_id))
        return user.user_name if user else ""
