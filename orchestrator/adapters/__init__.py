"""Adapters: one module per outside system; third-party types stop here."""
