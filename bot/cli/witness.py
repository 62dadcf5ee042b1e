"""`offboard audit witness-key` and the `--witness` part of `offboard audit verify`: the terminal side of
storage/witness.py. bot/cli/main.py only parses options and calls these."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from rich.console import Console
from rich.markup import escape
from slack_sdk.errors import SlackApiError
from sqlmodel import Session

from bot.runtime.config import Settings
from storage import witness

SLACK_SOURCE = "slack"


class WitnessSourceError(ValueError):
    """The signed heads or the key to check them cannot be read."""


def key_command(console: Console, path: Path, generate: bool) -> None:
    """Make a new key in `path` (never overwriting one), or show the public key of the one there."""
    try:
        if generate:
            try:
                key = witness.generate_key_file(path)
            except FileExistsError:
                raise WitnessSourceError(f"{path} exists already; offboard never overwrites a witness key") from None
            console.print(f"Wrote a new Ed25519 witness key to {escape(str(path))} (readable by you only).")
            console.print("Set OFFBOARD_WITNESS_KEY_FILE to it. Keep it out of the database and its backups.")
        else:
            key = witness.load_key_file(path)
    except (witness.WitnessKeyError, OSError) as exc:
        raise WitnessSourceError(str(exc)) from None
    public = key.public_key()
    console.print(f"Key id:     {witness.key_id_of(public)}")
    console.print(f"Public key: {witness.public_key_text(public)}")
    console.print("Give the public key to your auditor: `offboard audit verify --witness … --public-key …` checks "
                  "the signed heads with it alone.")


def public_key(settings: Settings, given: str | None) -> Ed25519PublicKey:
    if given:
        try:
            return witness.public_key_from_text(given)
        except witness.WitnessKeyError as exc:
            raise WitnessSourceError(f"--public-key: {exc}") from None
    if not settings.witness_key_file:
        raise WitnessSourceError("set OFFBOARD_WITNESS_KEY_FILE or pass --public-key to check the signatures")
    try:
        return witness.load_key_file(Path(settings.witness_key_file)).public_key()
    except witness.WitnessKeyError as exc:
        raise WitnessSourceError(str(exc)) from None


def read_heads(settings: Settings, source: str) -> tuple[list[witness.SignedHead], str]:
    """The signed heads from `source`: "slack" (the audit channel), "slack:<channel id>", or a JSON Lines
    file; and where they came from, in words."""
    if source == SLACK_SOURCE or source.startswith(SLACK_SOURCE + ":"):
        channel = source.partition(":")[2] or settings.audit_channel
        if not channel:
            raise WitnessSourceError("set OFFBOARD_AUDIT_CHANNEL or write --witness slack:<channel id>")
        from bot.runtime.app import slack_client

        try:
            messages = list(witness.iter_history(slack_client(settings), channel))
        except SlackApiError as exc:
            needed = exc.response.get("needed")
            hint = f" (the bot token needs {needed})" if needed else ""
            raise WitnessSourceError(f"Slack refused to list {channel}'s history: {exc.response.get('error')}"
                                     f"{hint}") from None
        return witness.heads_in_messages(messages), f"Slack channel {channel} ({len(messages)} messages)"
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WitnessSourceError(f"cannot read {source}: {exc.strerror}") from None
    try:
        return witness.heads_in_jsonl(text), f"file {source}"
    except ValueError as exc:
        raise WitnessSourceError(f"{source}: {exc}") from None


@dataclass(frozen=True)
class Witnessed:
    """Signed heads as read, where from, and the key that must have signed them."""

    heads: list[witness.SignedHead]
    where: str
    public: Ed25519PublicKey


def read_witnessed(settings: Settings, source: str, given_key: str | None) -> Witnessed:
    """The heads of `source` (see read_heads) and the key to check them with. Raises WitnessSourceError."""
    key = public_key(settings, given_key)
    heads, where = read_heads(settings, source)
    return Witnessed(heads, where, key)


def check_and_print(console: Console, session: Session, witnessed: Witnessed) -> bool:
    """Print the witness verdict; True when every witnessed head is in the chain as it was signed."""
    result = witness.check_witnessed(session, witnessed.heads, witnessed.public)
    key = witness.key_id_of(witnessed.public)
    console.print(f"Witnessed heads from {escape(witnessed.where)}, key {key}")
    if result.other_keys:
        console.print(f"  Heads signed with other keys ({', '.join(result.other_keys)}) are not checked: run again "
                      "with that key's --public-key.")
    if result.heads == 0:
        console.print(f"[bold red]✗ No head signed with key {key} was found there[/]: nothing witnesses this "
                      "chain, so a rewrite of the whole log could not be noticed.")
        return False
    if result.ok:
        latest = result.latest
        assert latest is not None
        console.print(f"[bold green]✓ The chain holds every witnessed head:[/] {result.matched} of {result.heads}, the "
                      f"latest entry {latest.seq} witnessed {latest.witnessed_at}.")
        beyond = result.chain_entries - latest.seq
        if beyond > 0:
            console.print(f"  {beyond} entries after it are not witnessed yet.")
        return True
    for finding in result.findings:
        console.print(f"[bold red]✗ {finding.kind.replace('_', ' ')}:[/] {escape(finding.message)}")
    console.print(f"  {result.matched} of {result.heads} witnessed heads are in the chain as signed.")
    return False
