"""Offboarding in Slack: commands, forms, actions, blocks and messages."""
