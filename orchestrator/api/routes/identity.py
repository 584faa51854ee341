"""`/v1/identity` (to be built)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
