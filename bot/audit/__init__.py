"""Audit evidence, exports and reports (the hash chain itself is storage/audit.py)."""
