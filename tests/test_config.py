"""Settings from the environment: defaults, and errors that name the variable."""
from datetime import timedelta

import pytest

from pagerstatus.config import load_settings
from pagerstatus.errors import ConfigError
from pagerstatus.keys import AccountName
from pagerstatus.lock import RESYNC_SETTLE_SECONDS
from pagerstatus.pagerduty import READS_IN_FLIGHT
from pagerstatus.statuspage import WRITES_IN_FLIGHT

BASE = {"STATUSPAGE_PAGE": "abc123"}


def test_defaults():
    settings = load_settings(BASE)
    assert settings.pagerduty_api_url == "https://api.pagerduty.com"
    assert settings.statuspage_api_url == "https://api.statuspage.io/v1"
    assert settings.policy.open_on == "acknowledged"
    assert settings.policy.severity.status_for("P1", "high") == "partial_outage"
    assert settings.firestore_database == "(default)"
    assert (settings.secrets, settings.lock, settings.dry_run) == ("env", "memory", False)
    assert settings.pagerduty_account_api_urls == {} and settings.scheduler is None
    # The lock defaults to Firestore whenever a project is set.
    assert load_settings({**BASE, "GOOGLE_CLOUD_PROJECT": "p"}).lock == "firestore"
    assert load_settings({**BASE, "GOOGLE_CLOUD_PROJECT": "p", "PAGERSTATUS_LOCK": "memory"}).lock == "memory"


@pytest.mark.parametrize("environ,variable", [
    ({}, "STATUSPAGE_PAGE"),
    ({"STATUSPAGE_PAGE": " , "}, "STATUSPAGE_PAGE"),
    ({"STATUSPAGE_PAGE": "a/b"}, "STATUSPAGE_PAGE"),
    ({"STATUSPAGE_PAGE": "abc123 def456"}, "STATUSPAGE_PAGE"),
    ({"STATUSPAGE_PAGE": "abc123;def456"}, "STATUSPAGE_PAGE"),
    ({"STATUSPAGE_PAGE": "abc123,def456,ABC123"}, "STATUSPAGE_PAGE"),
    ({**BASE, "PAGERSTATUS_OPEN_ON": "resolved"}, "PAGERSTATUS_OPEN_ON"),
    ({**BASE, "PAGERDUTY_API_URL": "ftp://x"}, "PAGERDUTY_API_URL"),
    ({**BASE, "PAGERSTATUS_INCIDENT_NAME": "{service} down"}, "PAGERSTATUS_INCIDENT_NAME"),
    ({**BASE, "PAGERSTATUS_INCIDENT_BODY": "{component.name} is down"}, "PAGERSTATUS_INCIDENT_BODY"),
    ({**BASE, "PAGERSTATUS_SECRETS": "secretmanager"}, "GOOGLE_CLOUD_PROJECT"),
    ({**BASE, "PAGERSTATUS_LOCK": "firestore"}, "GOOGLE_CLOUD_PROJECT"),
    ({**BASE, "PAGERSTATUS_DRY_RUN": "maybe"}, "PAGERSTATUS_DRY_RUN"),
])
def test_bad_configuration_names_the_variable(environ, variable):
    with pytest.raises(ConfigError, match=variable):
        load_settings(environ)


def test_one_page_or_several_separated_by_commas():
    assert load_settings(BASE).statuspage_pages == ("abc123",)
    assert load_settings({"STATUSPAGE_PAGE": " abc123, def456 ,,ghi789"}).statuspage_pages == (
        "abc123", "def456", "ghi789")
    with pytest.raises(ConfigError, match=r"^STATUSPAGE_PAGE: expected each page id once .* 'ABC123' twice"):
        load_settings({"STATUSPAGE_PAGE": "abc123,ABC123"})


def severity(text: str):
    return load_settings({**BASE, "PAGERSTATUS_SEVERITY": text}).policy.severity


def test_severity_priority_beats_urgency_and_star_sets_the_default():
    rules = severity(" p1=major_outage, LOW = degraded_performance ,, *=degraded_performance")
    assert rules.status_for("P1", "low") == "major_outage"
    assert rules.status_for("P2", "low") == "degraded_performance"
    assert rules.status_for(None, "high") == "degraded_performance"
    assert severity("P1=major_outage").status_for("P2", "high") == "partial_outage"


# The one KEY=VALUE parser, through both variables that use it.
@pytest.mark.parametrize("variable,value,problem", [
    ("PAGERSTATUS_SEVERITY", "P1", "expected KEY=STATUS items, found 'P1'"),
    ("PAGERSTATUS_SEVERITY", "=major_outage", "expected KEY=STATUS items"),
    ("PAGERSTATUS_SEVERITY", "P1=", "expected KEY=STATUS items"),
    ("PAGERSTATUS_SEVERITY", "P1=down", "expected a status in .*_outage for 'P1', found 'down'"),
    ("PAGERSTATUS_SEVERITY", "P1=major_outage,p1=degraded_performance", "expected each key once .* 'p1' twice"),
    ("PAGERSTATUS_PAGERDUTY_REGIONS", "acme", "expected ACCOUNT=REGION items, found 'acme'"),
    ("PAGERSTATUS_PAGERDUTY_REGIONS", "acme=", "expected ACCOUNT=REGION items"),
    ("PAGERSTATUS_PAGERDUTY_REGIONS", "=eu", "expected ACCOUNT=REGION items"),
    ("PAGERSTATUS_PAGERDUTY_REGIONS", "acme=mars", "expected a region .* for acme, found 'mars'"),
    ("PAGERSTATUS_PAGERDUTY_REGIONS", "acme=ftp://x", "expected a region"),
    ("PAGERSTATUS_PAGERDUTY_REGIONS", "bad.name=eu", "expected an account name matching .*, found 'bad.name'"),
    ("PAGERSTATUS_PAGERDUTY_REGIONS", "acme=eu,ACME=us", "expected each key once .* 'ACME' twice"),
    ("PAGERSTATUS_PAGERDUTY_REGIONS", "other-team=eu,other_team=us", ".* found 'other-team' and 'other_team'"),
])
def test_a_malformed_item_list_names_the_variable_and_what_was_found(variable, value, problem):
    with pytest.raises(ConfigError, match=f"^{variable}: {problem}"):
        load_settings({**BASE, variable: value})


def test_accounts_in_other_pagerduty_regions_are_read_through_their_api():
    settings = load_settings({**BASE, "PAGERSTATUS_PAGERDUTY_REGIONS": "Acme=eu, beta=US,lab=http://127.0.0.1:8900/pd/"})
    assert settings.pagerduty_api_url_for(AccountName("acme")) == "https://api.eu.pagerduty.com"
    assert settings.pagerduty_api_url_for(AccountName("beta")) == "https://api.pagerduty.com"
    assert settings.pagerduty_api_url_for(AccountName("lab")) == "http://127.0.0.1:8900/pd"
    assert settings.pagerduty_api_url_for(AccountName("unlisted")) == "https://api.pagerduty.com"


def test_a_region_for_another_spelling_of_the_account_is_an_error_not_the_default_api():
    settings = load_settings({**BASE, "PAGERSTATUS_PAGERDUTY_REGIONS": "other-team=eu"})
    with pytest.raises(ConfigError, match=r"PAGERSTATUS_PAGERDUTY_REGIONS: .*'other-team' and 'other_team'"):
        settings.pagerduty_api_url_for(AccountName("other_team"))


# --- what reaches customers, and when ---

def test_customer_facing_defaults():
    chosen = load_settings(BASE).policy
    assert chosen.notify == {"open", "escalate", "resolve"}
    assert (chosen.open_after, chosen.monitor_for) == (timedelta(0), timedelta(0))
    assert (chosen.adopt_legacy, chosen.during_maintenance) == (False, "hold")
    assert chosen.monitoring_body == "A fix has been implemented and we are monitoring the results."


@pytest.mark.parametrize("value,expected", [
    ("all", {"open", "escalate", "deescalate", "monitoring", "resolve"}),
    ("NONE", set()),
    (" open , monitoring ", {"open", "monitoring"}),
    ("", {"open", "escalate", "resolve"}),
])
def test_notify_takes_a_set_of_events_all_or_none(value, expected):
    assert load_settings({**BASE, "PAGERSTATUS_NOTIFY": value}).policy.notify == expected


@pytest.mark.parametrize("value,expected", [
    ("0", timedelta(0)), ("0s", timedelta(0)), ("90s", timedelta(seconds=90)), ("5m", timedelta(minutes=5)),
    ("1h30m", timedelta(minutes=90)), (" 2M ", timedelta(minutes=2)),
])
def test_durations(value, expected):
    settings = load_settings({**BASE, "PAGERSTATUS_OPEN_AFTER": value, "PAGERSTATUS_MONITOR_FOR": value})
    assert settings.policy.open_after == settings.policy.monitor_for == expected


@pytest.mark.parametrize("environ,problem", [
    ({"PAGERSTATUS_NOTIFY": "open,page"}, "PAGERSTATUS_NOTIFY: expected all, none, .* found 'page'"),
    ({"PAGERSTATUS_NOTIFY": "all,open"}, "PAGERSTATUS_NOTIFY: .* found 'all'"),
    ({"PAGERSTATUS_OPEN_AFTER": "5 minutes"}, "PAGERSTATUS_OPEN_AFTER: expected a duration .* found '5 minutes'"),
    ({"PAGERSTATUS_MONITOR_FOR": "-1m"}, "PAGERSTATUS_MONITOR_FOR: expected a duration"),
    ({"PAGERSTATUS_MONITOR_FOR": "30s5m"}, "PAGERSTATUS_MONITOR_FOR: expected a duration"),
    ({"PAGERSTATUS_ADOPT_LEGACY": "yes"}, "PAGERSTATUS_ADOPT_LEGACY: expected one of true, false"),
    ({"PAGERSTATUS_DURING_MAINTENANCE": "skip"}, "PAGERSTATUS_DURING_MAINTENANCE: expected one of hold, open"),
    ({"PAGERSTATUS_MONITORING_BODY": "{fix}"}, "PAGERSTATUS_MONITORING_BODY: expected a template"),
])
def test_customer_facing_settings_name_the_variable_and_what_was_found(environ, problem):
    with pytest.raises(ConfigError, match=f"^{problem}"):
        load_settings({**BASE, **environ})


# -- accounts open to anyone (PAGERSTATUS_ALLOW_UNAUTHENTICATED) ------------------------------

def test_no_account_accepts_unauthenticated_webhooks_by_default():
    assert load_settings(BASE).allow_unauthenticated == frozenset()


def test_accounts_allowed_unauthenticated_are_names_in_any_case():
    settings = load_settings({**BASE, "PAGERSTATUS_ALLOW_UNAUTHENTICATED": " Demo, other_team ,,"})
    assert settings.allow_unauthenticated == {AccountName("demo"), AccountName("other_team")}


@pytest.mark.parametrize("value", ["bad.name", "a-b,a_b", "_sync"])
def test_a_bad_allowed_account_names_the_variable(value):
    with pytest.raises(ConfigError, match="PAGERSTATUS_ALLOW_UNAUTHENTICATED"):
        load_settings({**BASE, "PAGERSTATUS_ALLOW_UNAUTHENTICATED": value})


def test_how_much_of_a_sync_runs_at_once_and_the_settle_before_a_follow_up_round():
    defaults = load_settings({"STATUSPAGE_PAGE": "page1"})
    assert (defaults.writes_in_flight, defaults.pagerduty_reads_in_flight, defaults.resync_settle_seconds) == (
        WRITES_IN_FLIGHT, READS_IN_FLIGHT, RESYNC_SETTLE_SECONDS) == (8, 8, 0.5)
    one_at_a_time = load_settings({"STATUSPAGE_PAGE": "page1", "PAGERSTATUS_WRITES_IN_FLIGHT": "1",
                                   "PAGERSTATUS_PAGERDUTY_READS_IN_FLIGHT": "1", "PAGERSTATUS_RESYNC_SETTLE_MS": "0"})
    assert (one_at_a_time.writes_in_flight, one_at_a_time.pagerduty_reads_in_flight,
            one_at_a_time.resync_settle_seconds) == (1, 1, 0)
    for name, value in [("PAGERSTATUS_WRITES_IN_FLIGHT", "0"), ("PAGERSTATUS_WRITES_IN_FLIGHT", "61"),
                        ("PAGERSTATUS_PAGERDUTY_READS_IN_FLIGHT", "17"), ("PAGERSTATUS_RESYNC_SETTLE_MS", "0.5"),
                        ("PAGERSTATUS_RESYNC_SETTLE_MS", "-1")]:
        with pytest.raises(ConfigError, match=f"{name}: expected a whole number"):
            load_settings({"STATUSPAGE_PAGE": "page1", name: value})


def test_the_read_budget_is_whole_seconds_four_unless_set():
    assert load_settings(BASE).read_budget_seconds == 4
    assert load_settings({**BASE, "PAGERSTATUS_READ_BUDGET_SECONDS": "30"}).read_budget_seconds == 30
    for value in ("0", "2.5", "601", "soon"):
        with pytest.raises(ConfigError, match=f"PAGERSTATUS_READ_BUDGET_SECONDS: expected a whole number .* {value!r}"):
            load_settings({**BASE, "PAGERSTATUS_READ_BUDGET_SECONDS": value})
