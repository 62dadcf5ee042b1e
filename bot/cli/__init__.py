"""The `offboard` command: one module per command group."""
