"""Reviews in Slack: their cards and reports."""
