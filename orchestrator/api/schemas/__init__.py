"""Request and response bodies of the REST API, one module per resource (`schemas.<resource>`).

The names below are kept here too for the callers that import them from `orchestrator.api.schemas`.
"""

from .common import ErrorBody, ErrorOut
from .egresses import EgressCreate, EgressOut, EgressPage, EgressUpdate
from .layouts import LayoutOptionsIn, resolve_layout

__all__ = ["EgressCreate", "EgressOut", "EgressPage", "EgressUpdate", "ErrorBody", "ErrorOut", "LayoutOptionsIn",
           "resolve_layout"]
