"""Settings, the composition root, serving (HTTP, the ack front, Socket Mode), the scheduler, health,
metrics and logs."""
