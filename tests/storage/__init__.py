"""Storage: leases, owed cards, the heartbeat, schedules, migrations."""
