"""A failure told to an operator: what is wrong, which PagerDuty account it concerns, and
how to fix it.

`python -m pagerstatus check` prints one per item it checks; the function logs the same with
a sync that failed (app.py), so that both name the broken account and the same fix. Where the
code that raised knows the fix (Secret Manager: which secret, which grant) it is on the error;
otherwise it follows from the service and the HTTP status it answered.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError, PagerstatusError, UpstreamError

PAGERDUTY_SERVICE_PREFIX = "pagerduty:"  # pagerstatus.pagerduty names its errors' service so

_PAGERDUTY_KEY = ("PagerDuty refused the account's REST API key: replace it with a valid one (a read-only key "
                  "will do; PagerDuty: Integrations > API Access Keys) in secret pagerstatus-pd-{account}-api-key "
                  "(PD_ACCOUNT_{upper} in the environment). A key of the other service region is refused too: an "
                  "EU account needs service_region = \"eu\" (PAGERSTATUS_PAGERDUTY_REGIONS={account}=eu)")
_PAGERDUTY_URL = ("PagerDuty has no such API path: check PAGERDUTY_API_URL and the account's region in "
                  "PAGERSTATUS_PAGERDUTY_REGIONS")
_STATUSPAGE_KEY = ("Statuspage refused the API key: replace it with a valid one (Statuspage: your avatar > API "
                   "info) in secret pagerstatus-statuspage-api-key (STATUSPAGE_KEY in the environment), or in the "
                   "page's own secret pagerstatus-statuspage-<page id>-api-key (STATUSPAGE_KEY_<PAGE ID>)")
_STATUSPAGE_PAGE = ("the key reaches no such page: check the page id in STATUSPAGE_PAGE (Terraform: "
                    "statuspage_pages; manage.statuspage.io/pages/<ID>); a page of another Statuspage organisation "
                    "needs a key of its own (statuspage_page_api_keys, STATUSPAGE_KEY_<PAGE ID>)")
_FIRESTORE = ("the lock's Firestore database could not be read. If Firestore was unreachable, try again; "
              "otherwise the database must exist in native mode "
              "(`gcloud firestore databases describe --database=<PAGERSTATUS_FIRESTORE_DATABASE>` shows "
              "type FIRESTORE_NATIVE), and the caller needs roles/datastore.user on it; for a local run set "
              "FIRESTORE_EMULATOR_HOST, or PAGERSTATUS_LOCK=memory")
_TRANSIENT = "unavailable or unreachable: try again; a webhook answered 503 is redelivered by PagerDuty"
_CONFIG = "correct the setting the message names (README.md, Configuration)"


@dataclass(frozen=True)
class Diagnosis:
    problem: str
    fix: str
    account: str | None = None

    def fields(self) -> dict[str, str]:
        """For a log line: the fix, and the account when there is one."""
        return {"fix": self.fix, **({"account": self.account} if self.account else {})}


def explain(error: PagerstatusError) -> Diagnosis:
    account = error.account
    if isinstance(error, UpstreamError) and error.service.startswith(PAGERDUTY_SERVICE_PREFIX):
        account = account or error.service[len(PAGERDUTY_SERVICE_PREFIX):]
    return Diagnosis(problem=str(error), fix=error.fix or _fix(error, account), account=account)


def _fix(error: PagerstatusError, account: str | None) -> str:
    if isinstance(error, ConfigError):
        return _CONFIG
    if not isinstance(error, UpstreamError):
        return _TRANSIENT
    status = error.status
    if error.service.startswith(PAGERDUTY_SERVICE_PREFIX):
        if status in (401, 403):
            return _PAGERDUTY_KEY.format(account=account, upper=(account or "").upper())
        return _PAGERDUTY_URL if status == 404 else f"PagerDuty {_TRANSIENT}"
    if error.service == "statuspage":
        if status in (401, 403):
            return _STATUSPAGE_KEY
        return _STATUSPAGE_PAGE if status == 404 else f"Statuspage {_TRANSIENT}"
    if error.service == "firestore":
        return _FIRESTORE
    return f"{error.service} {_TRANSIENT}"
