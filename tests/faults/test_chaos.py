"""The test that keeps convergence true: a dozen requests through real `offboard serve` processes while a
seeded timeline SIGKILLs them, makes Slack answer 500 and 429, makes PostHog fail and fills the disk for a
moment (bench/chaos.py plays it; `python -m bench.chaos` runs a larger one). Afterwards every request is
completed with its notices sent, its one card shows that, every removal happened exactly once, and
`offboard audit verify` passes."""

from __future__ import annotations

from bench.chaos import ChaosConfig, run

SMALL = ChaosConfig(requests=12, seed=20261204, instances=2, window=16.0, kills=2, slack_bursts=4,
                    vendor_faults=4, disk_full_seconds=1.5, settle_timeout=60.0)


def test_every_request_and_every_card_converges_through_the_faults() -> None:
    report = run(SMALL)
    assert report.problems == [], "\n".join(report.events + report.problems)
    assert report.wall_seconds < 120, f"the chaos run took {report.wall_seconds:.0f} s"
