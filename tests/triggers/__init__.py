"""The triggers' pure parts: senders, payloads, deadlines."""
