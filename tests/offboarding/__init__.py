"""Offboarding: the workflow, its plans by mode, its forms, blocks and parsing."""
