"""The one error type for hostile input: every way a received message can be bad raises it."""


class DecodeError(ValueError):
    """A received message is malformed, oversized, unsigned, from another network or not finite.

    `reason` is a short stable tag (for counters and logs), the message says what was wrong.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class ReplayError(DecodeError):
    """A validly signed message whose `seq` was already seen or has fallen out of the window."""
