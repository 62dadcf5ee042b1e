"""What the offboarding and onboarding lifecycles share."""
