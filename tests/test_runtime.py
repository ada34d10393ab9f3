"""The Runtime owns every per-process object; clients it makes share them."""
import pytest

from pagerstatus.config import load_settings
from pagerstatus.errors import ConfigError
from pagerstatus.keys import EnvKeySource
from pagerstatus.lock import MemoryLock
from pagerstatus.log import Redactor
from pagerstatus.runtime import Runtime

ENV = {"STATUSPAGE_PAGE": "page1", "STATUSPAGE_KEY": "sp-key-123456", "PD_ACCOUNT_MAIN": "pd-key-123456"}
# Three pages: two read with the shared key, one with its own.
PAGES = {**ENV, "STATUSPAGE_PAGE": "page1,page2,page3", "STATUSPAGE_KEY_PAGE3": "sp-key-333333"}


def runtime_for(env):
    settings = load_settings(env)
    return Runtime(settings, EnvKeySource(env), {page: MemoryLock(page) for page in settings.statuspage_pages})


def test_pages_read_with_one_key_share_its_bucket_and_two_runtimes_share_nothing():
    runtime, other = runtime_for(PAGES), runtime_for(PAGES)
    page1, page2, page3 = (runtime.page(page) for page in ("page1", "page2", "page3"))
    assert (page1.page_id, page2.page_id, page3.page_id) == ("page1", "page2", "page3")
    assert page1.bucket is page2.bucket is runtime.page("page1").bucket is runtime.bucket("sp-key-123456")
    assert page3.bucket is runtime.bucket("sp-key-333333") and page3.bucket is not page1.bucket
    assert other.page("page1").bucket is not page1.bucket
    # Statuspage allows 1 request/s per key over a 60 s window.
    assert (page1.bucket.capacity, page1.bucket.rate) == (60, 1.0)


def test_the_runtime_needs_a_lock_for_every_page_and_no_other():
    settings = load_settings(PAGES)
    with pytest.raises(ValueError, match="a lock for each page"):
        Runtime(settings, EnvKeySource(PAGES), {"page1": MemoryLock("page1")})


def test_keys_read_are_masked_by_the_given_redactor():
    redactor = Redactor()
    runtime = Runtime.from_environment(PAGES, redactor=redactor)
    runtime.sources(), runtime.page("page1"), runtime.page("page3")
    assert redactor.redact("sp-key-123456 pd-key-123456 sp-key-333333") == "********3456 ********3456 ********3333"


@pytest.mark.parametrize("variable", ["STATUSPAGE_KEY_PAGE4", "STATUSPAGE_KEY_page3", "STATUSPAGE_KEY_"])
def test_a_page_key_variable_naming_no_configured_page_is_a_configuration_error(variable):
    # A misspelt page id would leave its page on the shared key, silently.
    with pytest.raises(ConfigError, match=f"^{variable}: expected STATUSPAGE_KEY_<PAGE ID> .*STATUSPAGE_KEY_PAGE3"):
        Runtime.from_environment({**PAGES, variable: "sp-key-444444"})


def test_each_account_open_to_anyone_is_warned_about_once_the_runtime_is_built(capsys):
    Runtime.from_environment({**ENV, "PAGERSTATUS_ALLOW_UNAUTHENTICATED": "main,other"})
    warnings = [line for line in capsys.readouterr().out.splitlines() if '"action": "unauthenticated"' in line]
    assert len(warnings) == 2 and '"account": "main"' in warnings[0] and '"account": "other"' in warnings[1]
    assert all('"severity": "WARNING"' in line for line in warnings)
