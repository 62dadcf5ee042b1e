"""The audit chain, evidence, reports, retention and witnessed heads."""
