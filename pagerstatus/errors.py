"""Typed errors. Each maps to one HTTP answer in the function (see app.py)."""


class PagerstatusError(Exception):
    """Base class of the errors this package raises on purpose."""


class ConfigError(PagerstatusError):
    """Configuration is missing or malformed; the message names the variable."""


class UpstreamError(PagerstatusError):
    """PagerDuty, Statuspage, Secret Manager or Firestore failed after retries.

    A sync that meets this writes nothing further and the webhook answers 503,
    so PagerDuty redelivers it.
    """

    def __init__(self, service: str, detail: str):
        super().__init__(f"{service}: {detail}")
        self.service = service
        self.detail = detail


class LeaseLost(PagerstatusError):
    """The sync lock was taken over by another holder; stop writing at once."""


class BadRequest(PagerstatusError):
    """A webhook the function cannot use; answered with a 4xx and this reason."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason
