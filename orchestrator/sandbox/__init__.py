"""Sandbox LiveKit: an in-process LiveKit server + egress worker emulator (Twirp, webhooks, faults)."""

from .config import SandboxFaults, SandboxMedia, SandboxTimings
from .runner import SandboxThread, serve_sandbox
from .server import SandboxLiveKit
from .twirp import TwirpError
from .webhooks import SentWebhook, sign_webhook, webhook_body

__all__ = [
    "SandboxFaults",
    "SandboxLiveKit",
    "SandboxMedia",
    "SandboxThread",
    "SandboxTimings",
    "SentWebhook",
    "TwirpError",
    "serve_sandbox",
    "sign_webhook",
    "webhook_body",
]
