"""`offboard sweep`: the inactive-user sweep from the terminal. With --dry-run it prints what the sweep
finds and changes nothing (no card, no audit entry, no state); without, it posts the review card to Slack
like the scheduled sweep."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlmodel import col, select

from bot.reviews.inactivity import LEFT_OUT_WORDS, LeftOut, SweepPolicy, VendorSweep, people, sweep_all
from bot.reviews.members_export import ExportError, MembersExport, parse_members_export_file
from bot.runtime.config import Settings
from storage.db import Database
from storage.models import SweepExemption, utcnow
from vendors.base import Vendor


def read_exports(console: Console, given: Sequence[str], known: Sequence[str]) -> dict[str, MembersExport] | None:
    """`vendor=path.csv` options as parsed exports; None (after saying why) when one is wrong. Each file
    is read row by row, never whole (see bot.reviews.members_export)."""
    exports: dict[str, MembersExport] = {}
    for option in given:
        vendor, sep, raw_path = option.partition("=")
        vendor = vendor.strip().lower()
        if not sep or vendor not in known:
            console.print(f"[bold red]Error:[/] --export takes tool=file.csv with a configured tool "
                          f"({', '.join(known) or 'none configured'}), not {escape(option)!r}.")
            return _discard(exports)
        path = Path(raw_path).expanduser()
        try:
            with path.open("rb") as file:
                exports[vendor] = parse_members_export_file(vendor, path.name, file)
        except (OSError, ExportError) as exc:
            console.print(f"[bold red]Error:[/] {escape(str(exc))}")
            return _discard(exports)
    return exports


def _discard(exports: Mapping[str, MembersExport]) -> None:
    # Their rows are in temporary files: delete them now rather than when they are collected.
    for export in exports.values():
        export.close()


def policy_from(settings: Settings) -> SweepPolicy:
    return SweepPolicy(settings.inactive_days, dict(settings.inactive_days_per_vendor),
                       tuple(settings.service_accounts), tuple(settings.sweep_allowlist))


def exempt_now(db: Database, now: datetime) -> set[str]:
    with db.session() as session:
        return set(session.exec(select(SweepExemption.email).where(col(SweepExemption.until) > now)))


def dry_run(console: Console, settings: Settings, vendors: Mapping[str, Vendor],
            exports: Mapping[str, MembersExport]) -> list[VendorSweep]:
    db = Database(settings.database_url)
    db.migrate()
    try:
        now = utcnow()
        results = sweep_all(vendors, policy_from(settings), exempt_now(db, now), now, exports)
    finally:
        db.dispose()
    print_findings(console, results, now)
    return results


def print_findings(console: Console, results: Sequence[VendorSweep], now: datetime) -> None:
    found = people(results)
    labels = {r.vendor: r.label for r in results}
    table = Table(title=f"Inactive accounts ({len(found)} people) — dry run, nothing was changed",
                  title_justify="left")
    for column in ("person", "tool", "role", "last login (UTC)", "judged from"):
        table.add_column(column, overflow="fold")
    for person in found:
        for vendor, seat in person.seats.items():
            login = seat.last_login.strftime("%Y-%m-%d") + f" ({(now - seat.last_login).days} days ago)" \
                if seat.last_login else "never"
            name = f"{person.email} {person.name}".strip()
            table.add_row(escape(name), labels.get(vendor, vendor), escape(seat.vendor_role or seat.role.value),
                          login, seat.source)
    console.print(table)
    for result in results:
        if result.blind_spot:
            console.print(f"[yellow]{result.label}:[/] {escape(result.blind_spot)}")
        if result.unjudged:
            console.print(f"[bold yellow]{result.label} could not be judged:[/] {escape(result.unjudged)}")
            if result.hint:
                console.print(f"  {escape(result.hint)} Then pass it: --export {result.vendor}=members.csv")
            continue
        left = ", ".join(_left_out(why, n) for why, n in sorted(result.left_out.items()))
        console.print(f"{result.label}: {result.members} checked from its {result.source}, {len(result.stale)} "
                      f"inactive for {result.days}+ days" + (f"; left out: {left}" if left else "") + ".")


def _left_out(why: str, count: int) -> str:
    one, several = LEFT_OUT_WORDS.get(LeftOut(why), (why, why))
    return f"{count} {one if count == 1 else several}"
