"""Slack in general: App Home, the directory, mrkdwn escaping, posting, delivery dedupe and errors."""
