"""Egress Orchestrator: runs LiveKit egress durably for people who broadcast and record."""

__version__ = "0.1.0"
