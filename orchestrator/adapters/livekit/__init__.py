"""LiveKit through livekit-api: gateway (calls), mapping (protobuf <-> domain), pool (connections)."""

from .gateway import LiveKitEgressGateway, translate
from .mapping import observation_of

__all__ = ["LiveKitEgressGateway", "observation_of", "translate"]
