"""The demo, the loopback world and the Slack stand-ins. No production path imports it."""
