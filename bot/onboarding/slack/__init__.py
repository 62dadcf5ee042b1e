"""Onboarding in Slack: commands, views, actions, blocks and messages."""
