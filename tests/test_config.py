"""Configuration from the environment: defaults, and errors that name the variable."""
import pytest

from pagerstatus.config import EnvKeySource, load_settings
from pagerstatus.reconcile import SeverityMap
from pagerstatus.errors import ConfigError

BASE = {"STATUSPAGE_PAGE": "abc123"}


def test_defaults():
    settings = load_settings(BASE)
    assert settings.pagerduty_api_url == "https://api.pagerduty.com"
    assert settings.statuspage_api_url == "https://api.statuspage.io/v1"
    assert settings.policy.open_on == "acknowledged"
    assert settings.policy.severity.status_for("P1", "high") == "partial_outage"
    assert settings.firestore_database == "(default)"
    assert (settings.secrets, settings.lock, settings.dry_run) == ("env", "memory", False)


def test_firestore_lock_whenever_a_project_is_set():
    assert load_settings({**BASE, "GOOGLE_CLOUD_PROJECT": "p"}).lock == "firestore"
    assert load_settings({**BASE, "GOOGLE_CLOUD_PROJECT": "p", "PAGERSTATUS_LOCK": "memory"}).lock == "memory"


@pytest.mark.parametrize("environ,variable", [
    ({}, "STATUSPAGE_PAGE"),
    ({"STATUSPAGE_PAGE": "a/b"}, "STATUSPAGE_PAGE"),
    ({**BASE, "PAGERSTATUS_OPEN_ON": "resolved"}, "PAGERSTATUS_OPEN_ON"),
    ({**BASE, "PAGERSTATUS_SEVERITY": "P1=down"}, "PAGERSTATUS_SEVERITY"),
    ({**BASE, "PAGERSTATUS_SEVERITY": "P1"}, "PAGERSTATUS_SEVERITY"),
    ({**BASE, "PAGERDUTY_API_URL": "ftp://x"}, "PAGERDUTY_API_URL"),
    ({**BASE, "PAGERSTATUS_INCIDENT_NAME": "{service} down"}, "PAGERSTATUS_INCIDENT_NAME"),
    ({**BASE, "PAGERSTATUS_SECRETS": "secretmanager"}, "GOOGLE_CLOUD_PROJECT"),
    ({**BASE, "PAGERSTATUS_LOCK": "firestore"}, "GOOGLE_CLOUD_PROJECT"),
    ({**BASE, "PAGERSTATUS_DRY_RUN": "maybe"}, "PAGERSTATUS_DRY_RUN"),
])
def test_bad_configuration_names_the_variable(environ, variable):
    with pytest.raises(ConfigError, match=variable):
        load_settings(environ)


def test_severity_map_priority_beats_urgency_and_star_sets_default():
    severity = SeverityMap.parse("p1=major_outage, low=degraded_performance, *=degraded_performance")
    assert severity.status_for("P1", "low") == "major_outage"
    assert severity.status_for("P2", "low") == "degraded_performance"
    assert severity.status_for(None, "high") == "degraded_performance"


def test_env_accounts_case_insensitive_with_webhook_credentials():
    keys = EnvKeySource({
        "PD_ACCOUNT_HUGOPS": "k1-abcdef", "PD_ACCOUNT_OTHER_TEAM": "k2-abcdef",
        "PD_WEBHOOK_TOKEN_HUGOPS": "tok-abcdef", "PD_WEBHOOK_SECRET_OTHER_TEAM": "sec-abcdef",
    })
    assert sorted(keys.accounts()) == ["hugops", "other_team"]
    assert keys.account("hugops").webhook_token == "tok-abcdef"
    assert keys.account("other-team").webhook_secret == "sec-abcdef"
    assert keys.account("nobody") is None
    assert keys.account("../etc") is None
    assert keys.account("hugops\n") is None  # `$` would let a trailing newline through


def test_env_keys_missing_name_the_variable():
    with pytest.raises(ConfigError, match="STATUSPAGE_KEY"):
        EnvKeySource({}).statuspage_key()
    with pytest.raises(ConfigError, match="PD_ACCOUNT_"):
        EnvKeySource({}).accounts()


def test_account_keys_repr_hides_keys():
    keys = EnvKeySource({"PD_ACCOUNT_A": "secret-api-key", "PD_WEBHOOK_TOKEN_A": "secret-token"}).account("a")
    assert "secret" not in repr(keys)


@pytest.mark.parametrize("variable", ["PD_ACCOUNT_HugOps", "PD_ACCOUNT_MY-TEAM", "PD_ACCOUNT_"])
def test_a_non_canonical_account_variable_is_an_error_not_a_silently_dropped_account(variable):
    with pytest.raises(ConfigError, match=variable):
        EnvKeySource({variable: "key-0123456789", "PD_ACCOUNT_OTHER": "key-9876543210"}).accounts()


def test_template_with_an_attribute_names_the_variable():
    with pytest.raises(ConfigError, match="PAGERSTATUS_INCIDENT_BODY"):
        load_settings({**BASE, "PAGERSTATUS_INCIDENT_BODY": "{component.name} is down"})


def test_accounts_in_other_pagerduty_regions_are_read_through_their_api():
    settings = load_settings({**BASE, "PAGERSTATUS_PAGERDUTY_REGIONS": "Acme=eu, beta=us,lab=http://127.0.0.1:8900/pd/"})
    assert settings.pagerduty_api_url_for("acme") == "https://api.eu.pagerduty.com"
    assert settings.pagerduty_api_url_for("beta") == "https://api.pagerduty.com"
    assert settings.pagerduty_api_url_for("lab") == "http://127.0.0.1:8900/pd"
    assert settings.pagerduty_api_url_for("unlisted") == "https://api.pagerduty.com"
    assert load_settings(BASE).pagerduty_account_api_urls == {}


@pytest.mark.parametrize("value", ["acme", "acme=", "=eu", "acme=mars", "bad.name=eu", "acme=ftp://x"])
def test_a_malformed_region_list_names_the_variable(value):
    with pytest.raises(ConfigError, match="PAGERSTATUS_PAGERDUTY_REGIONS"):
        load_settings({**BASE, "PAGERSTATUS_PAGERDUTY_REGIONS": value})
