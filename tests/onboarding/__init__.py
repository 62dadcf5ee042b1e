"""Onboarding: invitations and their parsing."""
