"""All five benchmarks, one after another, each in a process of its own (so one's threads, sockets and
memory never colour another's figures): `.venv/bin/python -m bench` (or `./scripts/bench`). For a
benchmark's own options, run its module: `.venv/bin/python -m bench.bulk --help`."""

from __future__ import annotations

import subprocess
import sys
import time

from rich.console import Console

BENCHMARKS = (
    ("ack latency", "bench.ack_latency"),
    ("ack latency of the front alone", "bench.front_ack_latency"),
    ("bulk offboarding", "bench.bulk"),
    ("sweep at scale", "bench.sweep_scale"),
    ("emergency latency", "bench.emergency_latency"),
)


def main() -> int:
    console = Console()
    failed = []
    for title, module in BENCHMARKS:
        console.rule(f"[bold]{title}[/] ({module})")
        started = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", module])
        console.print(f"{module} took {time.perf_counter() - started:.0f} s" + (f", exit {code}" if code else ""))
        if code:
            failed.append(module)
    if failed:
        console.print(f"[bold red]Did not finish:[/] {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
