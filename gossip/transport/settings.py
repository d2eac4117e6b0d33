"""Every timeout and bound of the network transports, in one place."""

from __future__ import annotations

from dataclasses import dataclass, field

from gossip.transport.newcomers import NewcomerLimits
from gossip.transport.ratelimit import RateLimits
from gossip.wire import DEFAULT_LIMITS


@dataclass(frozen=True)
class NetSettings:
    """Every timeout and bound of a network transport."""

    max_frame: int = DEFAULT_LIMITS.max_message_bytes
    max_pending_bytes: int = 256 * 1024 * 1024   # received but not yet handled by the node
    dial_timeout: float = 10.0
    send_timeout: float = 60.0
    read_timeout: float = 120.0                   # a started frame must finish within this
    rate: RateLimits = field(default_factory=RateLimits)
    # new peer ids per remote IP and overall: at the transport (connections) a little more than
    # in membership, which charges the same budget again when they try to join the view
    newcomers: NewcomerLimits = field(default_factory=lambda: NewcomerLimits(
        per_source_burst=64.0, per_source_per_minute=32.0, overall_burst=256.0, overall_per_minute=128.0))
