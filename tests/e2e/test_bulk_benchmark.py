"""The bulk benchmark (bench/bulk.py) on a handful of people: its sandboxes, in their own process, find
everyone removed exactly once, and the one-call-at-a-time sample does the same vendor work per person as
the parallel run, so the speed-up it reports compares like with like."""

from __future__ import annotations

from bench import bulk
from vendors.http import RetryPolicy


def test_parallel_and_one_at_a_time_remove_everyone_once_with_the_same_calls_per_person() -> None:
    people = 6
    parallel = bulk.run(people, latency=0.0, serial=False,
                        policies={v: RetryPolicy(max_concurrency=4, backoff=0.01) for v in bulk.VENDORS})
    one = bulk.run(1, latency=0.0, serial=True,
                   policies={v: RetryPolicy(max_concurrency=1, backoff=0.01) for v in bulk.VENDORS})
    for result in (parallel, one):
        assert result.problems == []
        assert result.failed_steps == 0
    assert all(one.calls[v] > 0 for v in bulk.VENDORS)
    assert parallel.per_person() == one.per_person()
