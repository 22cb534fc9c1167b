"""Exponential backoff: how long to wait after a number of failures in a row.

The supervisor waits this long before restarting a failed adapter, and the Telegram
adapter before retrying a call to the Bot API; both use this one rule.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential delays between attempts.

    Attributes:
        initial: seconds before the first retry.
        factor: each further failure multiplies the delay by this.
        maximum: the delay never exceeds this.
    """

    initial: float = 1.0
    factor: float = 2.0
    maximum: float = 60.0

    def delay(self, failures: int) -> float:
        """Return the seconds to wait after ``failures`` failures in a row (1 or more)."""
        return float(min(self.maximum, self.initial * self.factor ** (failures - 1)))
