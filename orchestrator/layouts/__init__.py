"""Serves the broadcast layout pages that LiveKit Egress renders (``/layouts/...``)."""

from orchestrator.layouts.routes import create_layouts_app, router

__all__ = ["create_layouts_app", "router"]
