"""Slack in general: mrkdwn escaping."""
