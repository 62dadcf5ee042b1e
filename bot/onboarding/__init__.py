"""Onboarding: invitations with approval, their due work and CSV batches."""
