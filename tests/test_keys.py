"""The account name rule (one spelling, checked once) and keys from the environment."""
import flask
import pytest

from pagerstatus.app import Service
from pagerstatus.errors import ConfigError
from pagerstatus.keys import AccountName, EnvKeySource, check_distinct
from pagerstatus.runtime import Runtime


@pytest.mark.parametrize("text", ["a", "hugops", "other_team", "other-team", "0", "a" * 63, "a-", "a_"])
def test_a_valid_name_is_its_own_spelling(text):
    assert AccountName(text) == text
    assert AccountName.from_path(text) == text


@pytest.mark.parametrize("text", ["", "_sync", "-a", "a" * 64, "a.b", "a b", "a/b", "../a", "a%2f", "a\n", "ålpha",
                                  "\u212aey"])  # the Kelvin sign, which str.lower() makes "k"
def test_anything_else_is_no_name(text):
    with pytest.raises(ValueError, match="expected an account name"):
        AccountName(text)
    assert AccountName.from_path(text) is None
    with pytest.raises(ConfigError, match=r"^WHERE: expected an account name matching .*, found "):
        AccountName.parse(text, "WHERE", any_case=True)


def test_upper_case_letters_are_read_as_lower_case_only_where_people_type_the_name():
    assert AccountName.from_path("HugOps") == "hugops"
    assert AccountName.parse("Other_Team", "WHERE", any_case=True) == "other_team"
    with pytest.raises(ConfigError, match="WHERE"):
        AccountName.parse("HugOps", "WHERE")  # a secret id, say
    with pytest.raises(ValueError):
        AccountName("HugOps")


def test_names_that_differ_only_in_dash_and_underscore_collide():
    check_distinct([AccountName("other-team"), AccountName("other_teams"), AccountName("team")], "WHERE")
    with pytest.raises(ConfigError, match=r"WHERE: .*found 'other-team' and 'other_team'"):
        check_distinct([AccountName("other_team"), AccountName("x"), AccountName("other-team")], "WHERE")


# -- keys from the environment -------------------------------------------------------------

ENV = {
    "PD_ACCOUNT_HUGOPS": "k1-abcdef", "PD_ACCOUNT_OTHER_TEAM": "k2-abcdef",
    "PD_WEBHOOK_TOKEN_HUGOPS": "tok-abcdef", "PD_WEBHOOK_SECRET_OTHER_TEAM": "sec-abcdef",
}


def test_env_accounts_with_their_webhook_credentials():
    keys = EnvKeySource(ENV)
    assert sorted(keys.accounts()) == ["hugops", "other_team"]
    assert keys.account(AccountName("hugops")).webhook_token == "tok-abcdef"
    assert keys.account(AccountName("other_team")).webhook_secret == "sec-abcdef"
    assert keys.account(AccountName("nobody")) is None
    assert keys.account(AccountName("other-team")) is None  # PD_ACCOUNT_OTHER_TEAM is other_team, never other-team


def test_env_keys_missing_name_the_variable():
    with pytest.raises(ConfigError, match=r"^STATUSPAGE_KEY: not set .*page abc123 has no STATUSPAGE_KEY_ABC123"):
        EnvKeySource({}).statuspage_key("abc123")
    with pytest.raises(ConfigError, match="PD_ACCOUNT_"):
        EnvKeySource({}).accounts()


@pytest.mark.parametrize("variable", ["PD_ACCOUNT_HugOps", "PD_ACCOUNT_MY-TEAM", "PD_ACCOUNT_", "PD_ACCOUNT_A.B"])
def test_a_non_canonical_account_variable_is_an_error_not_a_silently_dropped_account(variable):
    with pytest.raises(ConfigError, match=variable):
        EnvKeySource({variable: "key-0123456789", "PD_ACCOUNT_OTHER": "key-9876543210"}).accounts()


def test_one_statuspage_key_serves_every_page_unless_a_page_has_its_own():
    keys = EnvKeySource({"STATUSPAGE_KEY": "sp-shared", "STATUSPAGE_KEY_DEF456": " sp-own\n"})
    assert keys.statuspage_key("abc123") == "sp-shared"
    assert keys.statuspage_key("def456") == "sp-own"  # the page id upper-cased, as PD_ACCOUNT_<NAME>
    assert EnvKeySource({"STATUSPAGE_KEY_DEF456": "sp-own"}).statuspage_key("def456") == "sp-own"


def test_a_blank_page_key_is_an_error_never_the_shared_key():
    keys = EnvKeySource({"STATUSPAGE_KEY": "sp-shared", "STATUSPAGE_KEY_DEF456": "  "})
    with pytest.raises(ConfigError, match=r"^STATUSPAGE_KEY_DEF456: set but blank; expected page def456's"):
        keys.statuspage_key("def456")


@pytest.mark.parametrize("variable", ["PD_WEBHOOK_TOKEN_HUGOPS", "PD_WEBHOOK_SECRET_HUGOPS"])
@pytest.mark.parametrize("blank", ["", " ", "\t\n "])
def test_a_blank_webhook_credential_is_an_error_never_no_credential(variable, blank):
    keys = EnvKeySource({"PD_ACCOUNT_HUGOPS": "k1-abcdef", variable: blank})
    for read in (lambda: keys.account(AccountName("hugops")), keys.accounts):
        with pytest.raises(ConfigError, match=f"{variable}: expected a webhook credential, found a blank value"):
            read()


def test_every_key_read_is_handed_to_on_secret_and_hidden_from_repr():
    read: list[str] = []
    keys = EnvKeySource({**ENV, "STATUSPAGE_KEY": "sp-abcdef", "STATUSPAGE_KEY_P2": "sp2-abcdef"},
                        on_secret=read.append)
    keys.statuspage_key("p1"), keys.statuspage_key("p2")
    hugops = keys.accounts()["hugops"]
    assert sorted(read) == ["k1-abcdef", "k2-abcdef", "sec-abcdef", "sp-abcdef", "sp2-abcdef", "tok-abcdef"]
    assert "k1-abcdef" not in repr(hugops) and "tok-abcdef" not in repr(hugops)


# -- the webhook path ----------------------------------------------------------------------

# No event that needs a sync: the answer shows whether the account was found, with no upstream call.
NO_SYNC = b'{"event": {"event_type": "service.updated"}}'


def post(path: str) -> flask.Response:
    env = {"STATUSPAGE_PAGE": "page1", "STATUSPAGE_KEY": "sp-key-123456",
           "PD_ACCOUNT_OTHER_TEAM": "pd-key-123456", "PD_ACCOUNT_KEY": "pd-key-654321",
           "PAGERSTATUS_ALLOW_UNAUTHENTICATED": "other_team,key"}
    service = Service(lambda: Runtime.from_environment(env))
    with flask.Flask(__name__).test_request_context(path, method="POST", data=NO_SYNC):
        return service.handle(flask.request)


@pytest.mark.parametrize("path", ["/other_team", "/OTHER_TEAM", "/Other_Team/", "/key"])
def test_the_account_answers_to_its_spelling_in_any_case(path):
    response = post(path)
    assert (response.status_code, response.get_json()) == (200, ["No need to sync"])


@pytest.mark.parametrize("path", ["/other-team", "/otherteam", "/\u212aey"])  # \u212a: the Kelvin sign
def test_another_spelling_is_unknown(path):
    response = post(path)
    assert response.status_code == 404 and "unknown account" in response.get_json()["error"]
