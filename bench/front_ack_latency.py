"""Benchmark 1b, the ack front alone: signed slash commands and button clicks against the front process
(bot.runtime.front) with a stand-in for the bot that only takes the deliveries off the pipe. Isolates what the front's
HTTP server costs from what the bot's work costs (bench/ack_latency.py measures both together). It is what
compared http.server with waitress behind the front (docs/development.md has the figures).

Two conditions, each run `--rounds` times:
- idle: one request in flight, nothing else running;
- busy: `--in-flight` requests at once while `--burners` processes spin the CPU (the bot's work, and the
  neighbours on a shared machine, competing with the front for the cores).

    .venv/bin/python -m bench.front_ack_latency [--requests 1000] [--in-flight 25] [--burners 2]
"""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Annotated
from urllib.parse import urlencode

import typer
from rich.console import Console
from rich.table import Table
from slack_sdk.signature import SignatureVerifier

from bench.ack_latency import Delivery, percentile, post_all
from bot.demo.localrun import SIGNING_SECRET
from bot.demo.served import free_port
from bot.runtime import front
from bot.runtime.front import Acked, Answer, Ask, FrontConfig, Ready

console = Console()


def signed(kind: str, body: str) -> Delivery:
    ts = str(int(time.time()))
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=ts, body=body)
    return kind, body.encode(), {"Content-Type": "application/x-www-form-urlencoded",
                                 "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


def deliveries(count: int) -> list[Delivery]:
    out: list[Delivery] = []
    for i in range(count):
        if i % 2:
            payload = {"type": "block_actions", "user": {"id": "UAPP1"}, "trigger_id": f"1.{i}.x",
                       "actions": [{"action_id": "approve", "value": str(i)}]}
            out.append(signed("click", urlencode({"payload": json.dumps(payload)})))
        else:
            out.append(signed("command", urlencode({"command": "/offboard", "text": f"bench.{i}@corp.com",
                                                    "user_id": "UREQ", "trigger_id": f"1.{i}.x"})))
    return out


def burn(stop: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    while not stop.is_set():
        sum(range(10_000))


class FrontAlone:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        config = FrontConfig("127.0.0.1", free_port(), SIGNING_SECRET)
        self.process = context.Process(target=front.run, args=(theirs, config), daemon=True)
        self.process.start()
        theirs.close()
        self.link = ours
        ready = ours.recv()
        assert isinstance(ready, Ready), ready
        self.url = ready.url
        self.handed = 0
        self.taker = threading.Thread(target=self._take, daemon=True)
        self.taker.start()

    def _take(self) -> None:
        while True:
            try:
                message = self.link.recv()
            except (EOFError, OSError):
                return
            if isinstance(message, Acked):
                self.handed += 1
            elif isinstance(message, Ask):
                self.link.send(Answer(message.ask_id, 200, {}, ""))

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(10)
        self.taker.join(10)


def measure(count: int, in_flight: int, burners: int) -> list[tuple[str, float, int]]:
    alone = FrontAlone()
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    spinning = [context.Process(target=burn, args=(stop,), daemon=True) for _ in range(burners)]
    try:
        for process in spinning:
            process.start()
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as sender:
            sender.submit(post_all, alone.url, deliveries(20), 1).result()  # warm up (not counted)
            return sender.submit(post_all, alone.url, deliveries(count), in_flight).result()
    finally:
        stop.set()
        for process in spinning:
            process.join(10)
        alone.stop()


def main(
    requests: Annotated[int, typer.Option(help="Requests per run.")] = 1000,
    in_flight: Annotated[int, typer.Option(help="Requests at once when busy.")] = 25,
    burners: Annotated[int, typer.Option(help="CPU-spinning processes when busy.")] = 2,
    rounds: Annotated[int, typer.Option(help="Runs per condition, interleaved.")] = 2,
) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    console.print(f"load average {load} on {os.cpu_count()} cores")
    table = Table(title="Ack front alone: time to the HTTP response (ms)")
    for column in ("condition", "round", "requests", "p50", "p95", "p99", "max", "not 200"):
        table.add_column(column, justify="right")
    for round_ in range(1, rounds + 1):
        for condition, flight, burning in (("idle", 1, 0), ("busy", in_flight, burners)):
            results = measure(requests, flight, burning)
            every = [ms for _, ms, _ in results]
            bad = sum(1 for *_, status in results if status != 200)
            table.add_row(condition, str(round_), str(len(every)), f"{percentile(every, 50):.2f}",
                          f"{percentile(every, 95):.2f}", f"{percentile(every, 99):.2f}", f"{max(every):.1f}", str(bad))
    console.print(table)


if __name__ == "__main__":
    typer.run(main)
