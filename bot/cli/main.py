"""The `offboard` command line."""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from bot.cli.db import db_app

if TYPE_CHECKING:
    from bot.audit.evidence import Evidence, VendorBefore
    from bot.runtime.app import Bot
    from bot.runtime.config import Settings
    from bot.runtime.health import HealthServer
    from storage.audit import VerifyResult
    from storage.db import Database

app = typer.Typer(help="offboard: remove (and grant) access to analytics tools, from Slack.", no_args_is_help=True)
console = Console()


def _configure_logging(verbose: bool, settings: Settings | None = None) -> None:
    """Text or JSON lines (OFFBOARD_LOG_FORMAT) on stderr; once settings are read, their secrets are redacted."""
    from bot.runtime.config import secret_fields
    from bot.runtime.log_format import configure

    fmt = settings.log_format if settings else os.environ.get("OFFBOARD_LOG_FORMAT", "text").strip().lower()
    secrets = [getattr(settings, name).get_secret_value() for name in secret_fields()] if settings else []
    configure(logging.DEBUG if verbose else logging.INFO, fmt, secrets)


@app.command()
def serve(
    env_file: Annotated[Path | None, typer.Option(help="A .env-style file with the settings.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the bot: Socket Mode when SLACK_APP_TOKEN is set, else HTTP on OFFBOARD_PORT at /slack/events
    (answered by a small process of its own, so acks never wait behind the bot's work)."""
    _configure_logging(verbose)
    if env_file:
        os.environ["OFFBOARD_ENV_FILE"] = str(env_file)
    from bot.runtime.app import create_bot
    from bot.runtime.config import load_settings

    settings = load_settings()
    _configure_logging(verbose, settings)
    problems = settings.problems()
    if problems:
        console.print("[bold red]offboard cannot start:[/]")
        for problem in problems:
            console.print(f"  • {problem}")
        console.print("See docs/configuration.md.")
        raise typer.Exit(2)
    # HTTP mode answers Slack from a separate process (bot.runtime.front), so its signature check happens there.
    with _storage_problems_in_one_line(settings.database_url):
        bot = create_bot(settings, verified_upstream=not settings.socket_mode)
        resumed = bot.start_background_work()
    if resumed:
        console.print(f"Resumed unfinished requests: {', '.join(f'#{r}' for r in resumed)}")
    health = _start_health(settings, bot)
    if settings.socket_mode:
        _serve_socket_mode(bot, settings, health)
        return
    from bot.runtime.front import FrontConfig
    from bot.runtime.front_link import FrontProcess
    from bot.triggers.wiring import secrets_from

    front = FrontProcess(bot.app, FrontConfig(settings.host, settings.port,
                                              settings.slack_signing_secret.get_secret_value(),
                                              logging.DEBUG if verbose else logging.INFO,
                                              read_timeout=settings.front_read_timeout,
                                              max_connections=settings.front_max_connections,
                                              trigger_secrets=secrets_from(settings),
                                              log_format=settings.log_format),
                         triggers=bot.triggers.endpoint if bot.triggers else None)
    # Service managers stop with SIGTERM: stop as for Ctrl-C, so what the front acked is still handed
    # over and started (the default would drop it, acked, on the floor).
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        try:
            front.start()
        except RuntimeError as exc:
            console.print(f"[bold red]offboard cannot start:[/] {exc}")
            raise typer.Exit(1) from exc
        console.print(f"offboard is listening on {front.url}")
        exit_code = front.wait()
        # Acks without the bot behind them would promise work nobody does: stop, and let the service
        # manager start both again.
        logging.getLogger(__name__).error("the ack front exited (%s); stopping", exit_code)
        raise typer.Exit(1)
    except KeyboardInterrupt:
        pass
    finally:
        front.stop()
        bot.stop()
        if health:
            health.stop()


def _start_health(settings: Settings, bot: Bot) -> HealthServer | None:
    if settings.health_port is None:
        return None
    from bot.runtime import metrics
    from bot.runtime.health import HealthServer, readiness_from_settings

    health = HealthServer(readiness_from_settings(settings), settings.host, settings.health_port,
                          metrics=metrics.endpoint(bot.db)).start()
    console.print(f"health: {health.url}/healthz, /readyz and /metrics")
    return health


def _serve_socket_mode(bot: Bot, settings: Settings, health: HealthServer | None) -> None:
    from slack_sdk.errors import SlackApiError

    from bot.runtime.socket_serve import serve as serve_socket_mode

    console.print("offboard is connecting to Slack in Socket Mode…")
    try:
        serve_socket_mode(bot, settings.slack_app_token.get_secret_value(),
                          on_connected=lambda: console.print("offboard is connected to Slack in Socket Mode"))
    except SlackApiError as exc:
        bot.stop()
        console.print(f"[bold red]offboard cannot start:[/] Slack refused SLACK_APP_TOKEN "
                      f"(apps.connections.open: {exc.response.get('error', 'error')})", soft_wrap=True)
        raise typer.Exit(1) from exc
    finally:
        if health:
            health.stop()


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


@contextmanager
def _storage_problems_in_one_line(database_url: str) -> Iterator[None]:
    """A database that cannot be written at start-up (read-only, a full disk, unreachable) is one line and
    exit 2: the operator's to fix, and a traceback would only hide what to fix."""
    import errno

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    where = make_url(database_url).render_as_string(hide_password=True)
    try:
        yield
    except (OperationalError, OSError) as exc:
        cause = getattr(exc, "orig", None) or exc
        text = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        if "readonly" in text or "read-only" in text or getattr(cause, "errno", None) in (errno.EROFS, errno.EACCES):
            problem = f"the database at {where} is read-only, and offboard serve writes to it ({text})"
        elif "disk is full" in text or getattr(cause, "errno", None) == errno.ENOSPC:
            problem = f"the disk holding the database at {where} is full ({text})"
        else:
            problem = f"cannot use the database at {where}: {text}"
        error_console.print(f"[bold red]offboard cannot start:[/] {escape(problem)}", soft_wrap=True)
        raise typer.Exit(2) from None


@app.command()
def demo(
    keep_db: Annotated[
        Path | None, typer.Option(help="Write the demo's SQLite database here (default: a temporary file).")
    ] = None,
) -> None:
    """Play a whole offboarding against sandbox PostHog and a local Slack stand-in, no accounts needed."""
    logging.basicConfig(level=logging.WARNING)
    from bot.demo.story import run_demo

    ok = run_demo(console, keep_db)
    raise typer.Exit(0 if ok else 1)


# -- audit evidence -------------------------------------------------------------------------------
audit_app = typer.Typer(
    help="Audit evidence: verify the tamper-evident log, show a request's evidence, export the removal log, "
    "purge personal data past retention.",
    no_args_is_help=True,
)
app.add_typer(audit_app, name="audit")
app.add_typer(db_app, name="db")
error_console = Console(stderr=True)
EnvFile = Annotated[Path | None, typer.Option(help="A .env-style file with the settings (DATABASE_URL, …).")]


def _audit_database(env_file: Path | None) -> tuple[Database, Settings]:
    from bot.runtime.config import Settings
    from storage.db import Database

    settings = Settings(_env_file=env_file) if env_file else Settings()
    db = Database(settings.database_url)
    db.migrate()
    return db, settings


def _where(db: Database) -> str:
    from sqlalchemy.engine import make_url

    return make_url(db.url).render_as_string(hide_password=True)


def _read_audit_database(env_file: Path | None) -> Database:
    """The database opened read-only (verify, show and export read it; a read-only copy is enough): no
    migration, no lock file, nothing written. A schema other than this version's is one line and exit 2."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.runtime.config import Settings
    from storage.db import Database, head_revision

    settings = Settings(_env_file=env_file) if env_file else Settings()
    db = Database(settings.database_url, read_only=True)
    try:
        current = db.schema_revision()
    except SQLAlchemyError as exc:
        db.dispose()
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        error_console.print(f"[bold red]Cannot read {escape(_where(db))}:[/] {escape(reason)}")
        raise typer.Exit(2) from None
    if current != head_revision():
        db.dispose()
        at = f"is at migration {current}" if current else "has no offboard schema"
        error_console.print(f"[bold red]{escape(_where(db))} {at}; this offboard reads migration {head_revision()}:[/]"
                            " upgrade it with `offboard db upgrade` (on a writable copy) or use the matching offboard.")
        raise typer.Exit(2)
    return db


def _record_look(read: Database, action: str, **details: object) -> None:
    """Log a look at the evidence in the audit log itself, where the database takes writes; a read-only
    copy is left untouched, and the command says the look is not logged."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from bot.audit import evidence
    from storage.audit import BOT_ACTOR
    from storage.db import Database, read_only_copy

    if read.url.startswith("sqlite") and read_only_copy(os.path.abspath(make_url(read.url).database or "")):
        error_console.print("This look is not in the audit log: the database is a read-only copy.")
        return
    db = Database(read.url)
    try:
        with db.session() as session:
            evidence.record_access(session, action, BOT_ACTOR, via="cli", **details)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        error_console.print(f"This look is not in the audit log: {escape(reason)}.")
    finally:
        db.dispose()


Witness = Annotated[str | None, typer.Option(
    help="Also check the chain against the signed heads posted to Slack: `slack` (OFFBOARD_AUDIT_CHANNEL), "
         "`slack:<channel id>`, or a JSON Lines file of exported heads or messages.")]
PublicKey = Annotated[str | None, typer.Option(
    help="The witness public key (base64) to check signatures with; default: OFFBOARD_WITNESS_KEY_FILE's.")]


@audit_app.command("verify")
def audit_verify(env_file: EnvFile = None, witness: Witness = None, public_key: PublicKey = None) -> None:
    """Verify the audit log's hash chain; name the first entry edited, removed, reordered or inserted.

    With --witness, also name a rewrite, a truncation or a dropped tail that the chain alone cannot show."""
    from bot.cli import witness as witness_cli
    from bot.runtime.config import Settings
    from storage.audit import verify_chain

    settings = Settings(_env_file=env_file) if env_file else Settings()
    db = _read_audit_database(env_file)
    try:
        # The signed heads are read before the chain, so a head posted meanwhile is one the chain already holds.
        witnessed = witness_cli.read_witnessed(settings, witness, public_key) if witness else None
        with db.session() as session:
            intact = _print_chain(db, verify_chain(session))
            held = witness_cli.check_and_print(console, session, witnessed) if witnessed else True
    except witness_cli.WitnessSourceError as exc:
        error_console.print(f"[bold red]Error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
    finally:
        db.dispose()
    if not (intact and held):
        raise typer.Exit(1)


@audit_app.command("witness-key")
def audit_witness_key(
    path: Annotated[Path | None, typer.Argument(help="The key file (default: OFFBOARD_WITNESS_KEY_FILE).")] = None,
    generate: Annotated[bool, typer.Option("--generate", help="Write a new key there (never overwrites).")] = False,
    env_file: EnvFile = None,
) -> None:
    """Show the witness key's id and public key, or generate a new key file with --generate."""
    from bot.cli import witness as witness_cli
    from bot.runtime.config import Settings

    if path is None:
        configured = (Settings(_env_file=env_file) if env_file else Settings()).witness_key_file
        if not configured:
            error_console.print("[bold red]Error:[/] name the key file, or set OFFBOARD_WITNESS_KEY_FILE.")
            raise typer.Exit(2)
        path = Path(configured)
    try:
        witness_cli.key_command(console, path, generate)
    except witness_cli.WitnessSourceError as exc:
        error_console.print(f"[bold red]Error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None


def _print_chain(db: Database, result: VerifyResult) -> bool:
    console.print(f"Audit log in {_where(db)}")
    if result.problem is None:
        purged = f" ({result.purged_entries} purged after retention)" if result.purged_entries else ""
        console.print(f"[bold green]✓ The chain is intact:[/] {result.entries} entries{purged}.")
        console.print(f"  Head: entry {result.head_seq}, hash {result.head_hash}")
        console.print("  Keep this head hash somewhere else (a ticket, an email to your auditor): a log rewritten "
                      "from scratch would show a different one (`--witness` checks the heads signed and posted "
                      "to Slack).")
        return True
    problem = result.problem
    console.print(f"[bold red]✗ The chain is broken at entry {problem.seq}: {problem.kind}.[/]")
    console.print(f"  {problem.message}")
    console.print(f"  Entries 1…{result.entries} before it verify.")
    return False


@audit_app.command("show")
def audit_show(
    target: Annotated[str, typer.Argument(help="A request number (12 or #12) or the person's email.")],
    env_file: EnvFile = None,
) -> None:
    """Show the evidence of a request, or of every request for a person.

    Timeline, approvals, before and after per tool, assets moved, manual checks, notifications, and how
    long each part took."""
    from bot.audit import evidence

    db = _read_audit_database(env_file)
    try:
        with db.session() as session:
            try:
                found = evidence.evidence_for(session, target)
            except ValueError as exc:
                error_console.print(f"[bold red]Error:[/] {exc}")
                raise typer.Exit(2) from None
        for item in found:
            _record_look(db, evidence.VIEWED, request_id=item.request_id)
    finally:
        db.dispose()
    if not found:
        console.print(f"No offboarding evidence for {target}.")
        raise typer.Exit(1)
    for item in found:
        _print_evidence(item)


def _print_evidence(item: Evidence) -> None:
    from rich.table import Table

    from bot.audit.evidence import iso_utc

    def span(delta: timedelta | None) -> str:
        return f"{delta.total_seconds() / 3600:.2f} h" if delta is not None else "n/a"

    purged = " [dim](personal data purged after retention)[/]" if item.purged else ""
    console.rule(f"Request #{item.request_id}: {item.subject}")
    facts = Table.grid(padding=(0, 2))
    for label, value in [
        ("Person", f"{item.subject} {item.subject_name}".strip() + purged),
        ("Reason", item.reason_label),
        ("Status", item.status),
        ("Ticket", item.ticket or "none"),
        ("Asked by", f"{item.requested_by} at {iso_utc(item.requested_at)}"),
        ("New owner", item.new_owner or "none named"),
        ("Effective", item.effective_at or "at approval"),
        ("Tools", ", ".join(item.vendors)),
        ("Request → approval", span(item.request_to_approval)),
        ("Approval → verified removal", span(item.approval_to_removal)),
        ("Removal deadline", item.deadline or "none"),
        ("Started by", escape("; ".join(item.started_by)) or "a person"),
    ]:
        facts.add_row(f"[bold]{label}[/]", value)
    console.print(facts)
    _print_table("Decisions", ["decision", "by", "at (UTC)", "comment"],
                 [[d.decision, d.by, iso_utc(d.at), d.comment] for d in item.decisions])
    befores = {b.vendor: b for b in item.before}
    _print_table(
        "Membership before → after, per tool",
        ["tool", "before (assessed)", "role", "projects", "last login", "assets", "after", "verified at (UTC)", "by"],
        [[a.vendor, *_before_cells(befores.get(a.vendor)), a.state.replace("_", " "), iso_utc(a.at), ", ".join(a.by)]
         for a in item.after],
    )
    _print_table("Assets moved", ["tool", "kind", "name", "project", "from", "to", "what was done"],
                 [[m.vendor, m.kind, m.name, m.project, m.from_email, m.to_email, m.action] for m in item.assets_moved])
    _print_table("Done by hand", ["tool", "step", "by", "at (UTC)"],
                 [[t.vendor, t.step, t.by, iso_utc(t.at)] for t in item.manual_ticks])
    _print_table("Notifications", ["kind", "delivered", "summary", "at (UTC)"],
                 [[n.kind, "yes" if n.delivered else "FAILED", n.summary, iso_utc(n.at)] for n in item.notifications])
    _print_table("Timeline (audit entries)", ["#", "at (UTC)", "actor", "what"],
                 [[str(t.seq), iso_utc(t.at), t.actor, t.text] for t in item.timeline])


def _before_cells(before: VendorBefore | None) -> list[str]:
    if before is None:
        return ["not assessed", "", "", "", ""]
    from collections import Counter

    from bot.offboarding.slack.blocks import asset_summary

    assets = asset_summary(Counter(dict(before.assets)))
    role = before.vendor_role or before.role
    return [before.status, role, ", ".join(before.projects), before.last_login, assets]


def _print_table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from rich.table import Table

    if not rows:
        return
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(escape(v) for v in row))
    console.print(table)


@audit_app.command("export")
def audit_export(
    since: Annotated[str, typer.Option(help="Removals verified on or after this date (YYYY-MM-DD, UTC).")],
    export_format: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    output: Annotated[Path | None, typer.Option(help="Write here instead of to standard output.")] = None,
    env_file: EnvFile = None,
) -> None:
    """Export the removal log as CSV or JSON.

    One row per completed offboarding: user, date and time (UTC), removed by, reason, approved by,
    assets transferred (to whom), verification, ticket, and the timeliness figures."""
    from bot.audit import evidence
    from storage.audit import verify_chain
    from storage.models import utcnow

    try:
        start = evidence.parse_since(since)
        chosen = evidence.parse_format(export_format)
    except ValueError as exc:
        error_console.print(f"[bold red]Error:[/] {exc}")
        raise typer.Exit(2) from None
    db = _read_audit_database(env_file)
    try:
        with db.session() as session:
            rows = evidence.removal_rows(session, start)
            chain = verify_chain(session) if chosen == evidence.ExportFormat.JSON else None
            content = evidence.render_export(rows, chosen, since=start, generated_at=utcnow(), chain=chain)
        if output is not None:
            output.write_text(content, encoding="utf-8")
        _record_look(db, evidence.EXPORTED, format=str(chosen), rows=len(rows), since=start,
                     request_ids=[r.request_id for r in rows])
    finally:
        db.dispose()
    if output is None:
        sys.stdout.write(content)
    else:
        error_console.print(f"Wrote {len(rows)} removal(s) to {output}.")


@audit_app.command("report")
def audit_report(
    start: Annotated[str, typer.Option("--from", help="The first day of the period (YYYY-MM-DD, UTC).")],
    end: Annotated[str, typer.Option("--to", help="The last day of the period, included (YYYY-MM-DD, UTC).")],
    output: Annotated[Path | None, typer.Option(help="The HTML file to write (default: named after the period).")]
    = None,
    witness: Witness = None,
    public_key: PublicKey = None,
    deadline_hours: Annotated[float, typer.Option(help="Hours after leaving by which access must be verified "
                                                       "removed.")] = 24.0,
    env_file: EnvFile = None,
) -> None:
    """Write the audit report for a period as one self-contained HTML file.

    Per leaver: who, when, the request and its source, the approver, each tool's removal and verification, manual
    confirmations, assets handed over, the deadline met or missed, re-checks. A summary with charts, the chain's
    verification (with --witness, against the signed heads), and the period's access reviews."""
    from bot.audit import report_run as audit_report_run
    from bot.cli import witness as witness_cli
    from storage.audit import BOT_ACTOR
    from storage.models import utcnow

    try:
        period = audit_report_run.parse_period(start, end)
    except ValueError as exc:
        error_console.print(f"[bold red]Error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
    db, settings = _audit_database(env_file)
    try:
        witnessed = witness_cli.read_witnessed(settings, witness, public_key) if witness else None
        with db.session() as session:
            made = audit_report_run.make_report(session, *period, now=utcnow(), actor=BOT_ACTOR, via="cli",
                                                witnessed=witnessed, seat_cost=settings.seat_cost,
                                                deadline_hours=deadline_hours)
    except witness_cli.WitnessSourceError as exc:
        error_console.print(f"[bold red]Error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
    finally:
        db.dispose()
    target = output or Path(made.filename)
    target.write_text(made.html, encoding="utf-8")
    console.print(f"Wrote the audit report for {len(made.report.leavers)} leaver(s) to {escape(str(target))}.")


@audit_app.command("purge")
def audit_purge(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be purged; change nothing.")] = False,
    env_file: EnvFile = None,
) -> None:
    """Erase the personal data of requests past their retention period.

    Emails, names and free text go; the process facts stay. The purge is recorded in the audit log, which
    still verifies afterwards."""
    from storage.models import utcnow
    from storage.retention import policy_with, purge

    db, settings = _audit_database(env_file)
    policy = policy_with(settings.retention_years, settings.retention_other_years)
    try:
        with db.session() as session:
            report = purge(session, policy, utcnow(), dry_run=dry_run)
    finally:
        db.dispose()
    verb = "Would purge" if dry_run else "Purged"
    if not report.requests and not report.unlinked_seqs and not report.records:
        console.print("Nothing is past its retention period; nothing was purged.")
        return
    if report.records:  # sweeps, access reviews, digests, invitations (storage/retention_records.py)
        console.print(f"{verb} " + ", ".join(f"{count} {table.replace('_', ' ')} row(s)"
                                             for table, count in sorted(report.records.items())) + ".")
    _print_table(f"{verb} the personal data of these requests", ["request", "reason", "retained until (UTC)"],
                 [[f"#{c.request_id}", c.reason, c.retained_until.strftime("%Y-%m-%d %H:%M")] for c in report.requests])
    console.print(f"{verb} {report.audit_entries} audit entries"
                  + (f", {len(report.unlinked_seqs)} of them not tied to a request." if report.unlinked_seqs else "."))
    if report.purge_seq is not None:
        console.print(f"The purge is audit entry {report.purge_seq}.")


# -- the inactive-user sweep --------------------------------------------------------------------
@app.command()
def sweep(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the findings; post and change nothing.")] = False,
    export: Annotated[list[str] | None, typer.Option(
        help="A tool's members export for tools whose API gives no last login: tool=file.csv (repeatable).")] = None,
    env_file: EnvFile = None,
) -> None:
    """Find accounts nobody has logged in to for the configured period (OFFBOARD_INACTIVE_DAYS).

    Without --dry-run the review card is posted to the admin channel, as the scheduled sweep does."""
    from bot.cli import sweep as sweep_cli
    from bot.runtime.app import create_bot, vendors_from_settings
    from bot.runtime.config import Settings

    settings = Settings(_env_file=env_file) if env_file else Settings()
    vendors = vendors_from_settings(settings)
    exports = sweep_cli.read_exports(error_console, export or [], list(vendors))
    if exports is None:
        raise typer.Exit(2)
    if dry_run:
        sweep_cli.dry_run(console, settings, vendors, exports)
        return
    problems = settings.problems()
    if problems:
        error_console.print("[bold red]Cannot post to Slack:[/] " + " ".join(problems) + " (or use --dry-run)")
        raise typer.Exit(2)
    bot = create_bot(settings, vendors=vendors)
    try:
        assert bot.deps.scheduled is not None
        sweep_id = bot.deps.scheduled.sweeps.run("cli", exports)
    finally:
        bot.stop()
    console.print(f"Sweep #{sweep_id} is posted in the admin channel.")


# -- invitations from a CSV file ----------------------------------------------------------------------
@app.command()
def invite(
    csv_file: Annotated[Path, typer.Option("--csv", help="email,role,vendors,projects,end_date (a header first).")],
    by: Annotated[str, typer.Option(help="Your Slack user id: the inviter, who may not approve it.")],
    message: Annotated[str, typer.Option(help="A personal message, where the tool sends one.")] = "",
    allow_personal: Annotated[bool, typer.Option("--allow-personal", help="Allow personal email addresses "
                                                 "(onboarding admins only).")] = False,
    env_file: EnvFile = None,
) -> None:
    """Invite everyone in a CSV file as one batch: /onboard's rules, one approval card where one is needed."""
    from bot.cli.onboard import run_invite_csv
    from bot.runtime.config import Settings

    settings = Settings(_env_file=env_file) if env_file else Settings()
    raise typer.Exit(run_invite_csv(console, error_console, settings, csv_file, by, message, allow_personal))


# -- offboarding from scripts and cron (bot.triggers) ----------------------------------------------------------
@app.command("request")
def request_offboarding(
    email: Annotated[str, typer.Argument(help="The person's email.")],
    reason: Annotated[str, typer.Option(help="termination, resignation, contract_end, role_change, …")] = "termination",
    effective: Annotated[str, typer.Option(help="When access ends: an ISO time, or a date (the end of that day, "
                                                "UTC). Empty: as soon as it is approved.")] = "",
    ticket: Annotated[str, typer.Option(help="The HR or IT ticket.")] = "",
    by: Annotated[str, typer.Option(help="Who asked: a Slack user id (told the outcome), or a name.")] = "",
    event_id: Annotated[str, typer.Option(help="An id that makes a re-run change nothing (default: a new one).")] = "",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print each tool's plan; change nothing.")] = False,
    env_file: EnvFile = None,
) -> None:
    """Open an offboarding request as the HR webhook does: one card, the configured approval, the deadline."""
    from bot.runtime.config import Settings
    from bot.triggers import request_cli

    settings = Settings(_env_file=env_file) if env_file else Settings()
    event = request_cli.parse(email, reason, effective, ticket, by, event_id, error_console)
    if event is None:
        raise typer.Exit(2)
    if dry_run:
        raise typer.Exit(request_cli.dry_run(console, settings, event))
    problems = settings.problems()
    if problems:
        error_console.print("[bold red]Cannot post to Slack:[/] " + " ".join(problems) + " (or use --dry-run)")
        raise typer.Exit(2)
    raise typer.Exit(request_cli.submit(console, settings, event, request_cli.raw_of(event)))


# -- the deployment check ----------------------------------------------------------------------------
@app.command()
def check(
    env_file: EnvFile = None,
    manifest: Annotated[Path | None, typer.Option(
        help="The Slack app manifest whose bot scopes the token must have (default: the checkout's manifest.yml).",
    )] = None,
) -> None:
    """Check, read-only against the live services, what this deployment needs.

    Each tool's credentials, the Slack token with the manifest's scopes and the bot in every channel it posts
    in, and the database reachable and migrated. Exit 0 when all is well, 1 for any problem (one line each,
    saying what to do), 2 for a setting that cannot be read."""
    from bot.runtime.deploy_check import run_cli

    raise typer.Exit(run_cli(console, error_console, env_file, manifest))


def main() -> None:
    """The `offboard` command. Settings that cannot be read end any command the same way: one line per
    problem on stderr and exit status 2, never a traceback (which could show a secret's value)."""
    from pydantic import ValidationError
    from sqlalchemy.exc import OperationalError

    from bot.runtime.config import Settings, SettingsProblems, describe

    try:
        app()
    except SettingsProblems as exc:
        _settings_failed(exc.lines)
    except ValidationError as exc:
        if exc.title != Settings.__name__:
            raise
        _settings_failed(describe(exc))
    except OperationalError as exc:  # a database down or refusing: one line in every command, not a traceback
        reason = str(exc.orig or exc).strip().splitlines()[0]
        error_console.print(f"[bold red]offboard cannot use its database:[/] {escape(reason)}. Check DATABASE_URL "
                            "and that the database server is up and lets this machine in.", highlight=False,
                            soft_wrap=True)
        sys.exit(2)


def _settings_failed(lines: list[str]) -> None:
    error_console.print("[bold red]offboard cannot read its settings:[/]", highlight=False)
    for line in lines:
        error_console.print(f"  {escape(line)}", highlight=False, soft_wrap=True)
    sys.exit(2)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        console.print(f"offboard {version('offboard')}", highlight=False)
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="Print offboard's version and exit.")] = False,
) -> None:
    """offboard: remove (and grant) access to analytics tools, from Slack."""


if __name__ == "__main__":
    main()
