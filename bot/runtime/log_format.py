"""How offboard logs: text for a terminal, or `OFFBOARD_LOG_FORMAT=json` for a log pipeline, one JSON object
per line with the request id, tool and step where the line is about one.

Whatever the format, a line never carries a secret: the configured secrets' values, and anything shaped like a
Slack token or an Authorization header, are replaced before the line is written.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import logging
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import IO, Any, TypeVar

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMATS = ("text", "json")
CONTEXT_FIELDS = ("request_id", "tool", "step")
REDACTED = "[redacted]"
# Slack tokens (bot, user, app-level, refresh, config), and credentials after an auth scheme.
_TOKEN_SHAPES = re.compile(r"\b(?:xox[abposre]|xapp)-[A-Za-z0-9-]+|(?i:\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]+")

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("offboard_log_context", default=None)


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Lines logged inside (in this thread or task) carry these fields, e.g. request_id=12, tool="posthog"."""
    token = _context.set({**(_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


Run = TypeVar("Run", bound=Callable[..., Any])


def logged_step(method: Run) -> Run:
    """For a method `(self, step, …)` running one Step: its lines carry the step's request, tool and kind."""

    @functools.wraps(method)
    def run(self: Any, step: Any, *args: Any, **kwargs: Any) -> Any:
        with log_context(request_id=getattr(step, "request_id", None), tool=getattr(step, "vendor", None),
                         step=getattr(step, "kind", None)):
            return method(self, step, *args, **kwargs)

    return run  # type: ignore[return-value]


class Redactor(logging.Filter):
    """Replaces secrets in each record's message (and its exception text) before any handler formats it."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Longest first, so a secret containing another is replaced whole; very short values would blank words.
        self.secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return _TOKEN_SHAPES.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.scrub(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        known = {**(_context.get() or {}), **{f: getattr(record, f) for f in CONTEXT_FIELDS if hasattr(record, f)}}
        line.update({field: known[field] for field in CONTEXT_FIELDS if known.get(field) is not None})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(level: int, fmt: str = "text", secrets: Iterable[str] = (), stream: IO[str] | None = None) -> None:
    """The root logger's one handler (stderr), in `fmt`, redacting `secrets`; replaces any earlier setup."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(Redactor(secrets))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # httpx logs every URL at INFO; ours carry people's emails, which belong in the audit log, not in logs.
    logging.getLogger("httpx").setLevel(logging.WARNING)
