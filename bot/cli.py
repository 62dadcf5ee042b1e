"""The `offboard` command line."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(help="offboard: remove (and grant) access to analytics tools, from Slack.", no_args_is_help=True)
console = Console()


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every URL at INFO; ours carry people's emails, which belong in the audit log, not in logs.
    logging.getLogger("httpx").setLevel(logging.WARNING)


@app.command()
def serve(
    env_file: Annotated[Path | None, typer.Option(help="A .env-style file with the settings.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the bot: Socket Mode when SLACK_APP_TOKEN is set, else HTTP on OFFBOARD_PORT at /slack/events."""
    _configure_logging(verbose)
    if env_file:
        os.environ["OFFBOARD_ENV_FILE"] = str(env_file)
    from bot.app import create_bot
    from bot.config import Settings

    settings = Settings()
    problems = settings.problems()
    if problems:
        console.print("[bold red]offboard cannot start:[/]")
        for problem in problems:
            console.print(f"  • {problem}")
        console.print("See the README's Configuration section.")
        raise typer.Exit(2)
    bot = create_bot(settings)
    resumed = bot.start_background_work()
    if resumed:
        console.print(f"Resumed unfinished requests: {', '.join(f'#{r}' for r in resumed)}")
    if settings.socket_mode:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        console.print("offboard is connecting to Slack in Socket Mode…")
        SocketModeHandler(bot.app, settings.slack_app_token.get_secret_value()).start()
        return
    from bot.server import HttpServer

    server = HttpServer(bot.app, settings.host, settings.port)
    console.print(f"offboard is listening on {server.url}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        bot.stop()


@app.command()
def demo(
    keep_db: Annotated[
        Path | None, typer.Option(help="Write the demo's SQLite database here (default: a temporary file).")
    ] = None,
) -> None:
    """Play a whole offboarding against sandbox PostHog and a local Slack stand-in, no accounts needed."""
    logging.basicConfig(level=logging.WARNING)
    from bot.demo import run_demo

    ok = run_demo(console, keep_db)
    raise typer.Exit(0 if ok else 1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
