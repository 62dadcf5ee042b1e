"""The audit's answers in Slack."""
