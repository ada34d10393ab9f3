"""Typed errors of the sync. Each maps to one HTTP answer in the function (app.py).

Requests the function refuses raise werkzeug's HTTP exceptions (BadRequest,
Unauthorized, NotFound, MethodNotAllowed) instead: they already are the answer.
"""


class PagerstatusError(Exception):
    """Base class of the errors this package raises on purpose."""


class ConfigError(PagerstatusError):
    """Configuration is missing or malformed; the message names the variable. Answered 500."""


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
    """The sync lock was taken over by another holder; stop writing at once. Answered 503."""


class StillChanging(PagerstatusError):
    """Changes kept arriving for as many syncs as one request may run. Answered 503,
    so PagerDuty redelivers and the redelivery's sync covers what came since."""
