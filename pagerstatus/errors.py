"""Typed errors of the sync. Each maps to one HTTP answer in the function (app.py).

Requests the function refuses raise werkzeug's HTTP exceptions (BadRequest,
Unauthorized, NotFound, MethodNotAllowed) instead: they already are the answer.
"""


class PagerstatusError(Exception):
    """Base class of the errors this package raises on purpose.

    fix: what an operator can do about it, where the raiser knows (pagerstatus.diagnosis
    says it otherwise). account: the PagerDuty account it concerns, where there is one, so
    that a failure of one account's keys is told apart from the others'.
    """

    def __init__(self, *args: object, fix: str | None = None, account: str | None = None):
        super().__init__(*args)
        self.fix = fix
        self.account = account


class ConfigError(PagerstatusError):
    """Configuration is missing or malformed; the message names the variable. Answered 500."""


class UpstreamError(PagerstatusError):
    """PagerDuty, Statuspage, Secret Manager or Firestore failed after retries.

    A sync that meets this writes nothing further and the webhook answers 503,
    so PagerDuty redelivers it.
    """

    def __init__(self, service: str, detail: str, *, status: int | None = None, fix: str | None = None,
                 account: str | None = None):
        """status: the HTTP status the service answered, when it answered one."""
        super().__init__(f"{service}: {detail}", fix=fix, account=account)
        self.service = service
        self.detail = detail
        self.status = status


class LeaseLost(PagerstatusError):
    """The sync lock was taken over by another holder; stop writing at once. Answered 503."""


class StillChanging(PagerstatusError):
    """Changes kept arriving for as many syncs as one request may run. Answered 503,
    so PagerDuty redelivers and the redelivery's sync covers what came since."""
