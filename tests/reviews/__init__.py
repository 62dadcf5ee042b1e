"""Reviews: inactivity, members exports, sweep cards and reports."""
