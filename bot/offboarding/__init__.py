"""Offboarding: requests, plans by mode, emergencies, batches, restores, reminders."""
