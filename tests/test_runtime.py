"""The Runtime owns every per-process object; clients it makes share them."""
from pagerstatus.config import load_settings
from pagerstatus.keys import EnvKeySource
from pagerstatus.lock import MemoryLock
from pagerstatus.log import Redactor
from pagerstatus.runtime import Runtime

ENV = {"STATUSPAGE_PAGE": "page1", "STATUSPAGE_KEY": "sp-key-123456", "PD_ACCOUNT_MAIN": "pd-key-123456"}


def test_every_page_client_shares_its_runtimes_statuspage_bucket_and_two_runtimes_share_nothing():
    runtime, other = (Runtime(load_settings(ENV), EnvKeySource(ENV), MemoryLock()) for _ in range(2))
    assert runtime.page().bucket is runtime.page().bucket is runtime.statuspage_bucket
    assert other.statuspage_bucket is not runtime.statuspage_bucket
    # Statuspage allows 1 request/s per key over a 60 s window.
    assert (runtime.statuspage_bucket.capacity, runtime.statuspage_bucket.rate) == (60, 1.0)


def test_keys_read_are_masked_by_the_given_redactor():
    redactor = Redactor()
    runtime = Runtime.from_environment(ENV, redactor=redactor)
    runtime.sources(), runtime.page()
    assert redactor.redact("sp-key-123456 pd-key-123456") == "********3456 ********3456"


def test_each_account_open_to_anyone_is_warned_about_once_the_runtime_is_built(capsys):
    Runtime.from_environment({**ENV, "PAGERSTATUS_ALLOW_UNAUTHENTICATED": "main,other"})
    warnings = [line for line in capsys.readouterr().out.splitlines() if '"action": "unauthenticated"' in line]
    assert len(warnings) == 2 and '"account": "main"' in warnings[0] and '"account": "other"' in warnings[1]
    assert all('"severity": "WARNING"' in line for line in warnings)
