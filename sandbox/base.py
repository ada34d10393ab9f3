"""What every part of the sandbox uses: its error, the time, and ids."""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

_PD_ID_CHARS = string.ascii_uppercase + string.digits
_SP_ID_CHARS = string.ascii_lowercase + string.digits


class SandboxError(Exception):
    """A request the sandbox refuses; each API renders it in its own error shape."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def now() -> datetime:
    return datetime.now(UTC)


class Ids:
    """Ids in the shapes of both APIs, never one issued twice in a process (not even
    after a reset): pagerstatus may remember ids (X-Webhook-Id, incident ids) from an
    earlier run in its own storage."""

    def __init__(self) -> None:
        self._rng = random.Random()
        self._issued: set[str] = set()

    def _new(self, make: Callable[[], str]) -> str:
        while (new := make()) in self._issued:
            pass
        self._issued.add(new)
        return new

    def pagerduty(self, prefix: str = "P", length: int = 7) -> str:
        """Uppercase letters and digits after a prefix."""
        return self._new(lambda: prefix + "".join(self._rng.choices(_PD_ID_CHARS, k=length - len(prefix))))

    def statuspage(self) -> str:
        """12 lowercase letters and digits."""
        return self._new(lambda: "".join(self._rng.choices(_SP_ID_CHARS, k=12)))

    def uuid(self) -> str:
        return self._new(lambda: str(uuid.UUID(int=self._rng.getrandbits(128), version=4)))
