"""PagerDuty account names, and where keys come from.

The account name rule, applied here and nowhere else (README "Account names"):

- A name is 1 to 63 lower-case ASCII letters, digits, '_' and '-', starting with a letter or
  a digit (ACCOUNT_NAME_PATTERN; Terraform validates its account keys with the same pattern).
- It is spelt the same everywhere: the webhook path /<name>, the secret ids
  pagerstatus-pd-<name>-*, the keys of PAGERSTATUS_PAGERDUTY_REGIONS, the logs. Where people
  type it (the path, PAGERSTATUS_PAGERDUTY_REGIONS) upper-case ASCII letters are read as
  lower-case, so /HugOps is hugops, as it always was; a secret id must be lower-case.
- '-' and '_' are never interchangeable: /other-team is not account other_team (404).
- PD_ACCOUNT_<NAME> configures the account <NAME> lower-cased: PD_ACCOUNT_OTHER_TEAM is
  other_team. '-' is not portable in a variable name, so a name with '-' has no variables
  and is configured in Secret Manager only.
- Two accounts whose names differ only in '-' versus '_' (other-team, other_team) are a
  ConfigError: they used to answer to the same variables, and people read them as one.

Statuspage keys: one key serves every page (a Statuspage API key belongs to a user of the
organisation, not to a page); a page may have its own, which then serves it alone. In the
environment that is STATUSPAGE_KEY_<PAGE ID>, the page id upper-cased as <NAME> is in
PD_ACCOUNT_<NAME> (STATUSPAGE_KEY_ABC123 for page abc123). A blank override, or one naming
no configured page, is a ConfigError: it is a typo, and the page would silently be read
with another key.

Key sources: EnvKeySource here (local runs), SecretManagerKeySource in
pagerstatus.secretmanager (Google Cloud); runtime.py picks one.
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, Self

from .errors import ConfigError

ACCOUNT_NAME_PATTERN = "^[a-z0-9][a-z0-9_-]{0,62}$"
_ACCOUNT_NAME = re.compile(ACCOUNT_NAME_PATTERN)

ENV_ACCOUNT_PREFIX = "PD_ACCOUNT_"
ENV_WEBHOOK_SECRET_PREFIX = "PD_WEBHOOK_SECRET_"
ENV_WEBHOOK_TOKEN_PREFIX = "PD_WEBHOOK_TOKEN_"
ENV_STATUSPAGE_KEY = "STATUSPAGE_KEY"
ENV_PAGE_KEY_PREFIX = ENV_STATUSPAGE_KEY + "_"


class AccountName(str):
    """A valid account name in its one spelling. Whatever builds a secret id or a variable
    name from an account takes an AccountName, so that a name from a URL is checked first."""

    __slots__ = ()

    def __new__(cls, text: str) -> Self:
        if not isinstance(text, str) or not _ACCOUNT_NAME.fullmatch(text):
            raise ValueError(f"expected an account name matching {ACCOUNT_NAME_PATTERN}, found {text!r}")
        return super().__new__(cls, text)

    @classmethod
    def parse(cls, text: str, where: str, *, any_case: bool = False) -> AccountName:
        """The name in configuration; a ConfigError naming `where` if it is not one.

        any_case: where people type the name, upper-case ASCII letters are read as lower-case.
        """
        try:
            return cls(_fold(text) if any_case else text)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None

    @classmethod
    def from_path(cls, segment: str) -> AccountName | None:
        """The name a webhook path segment spells, in any case, or None: that path is no account."""
        try:
            return cls(_fold(segment))
        except ValueError:
            return None


def _fold(text: str) -> str:
    # ASCII only: str.lower() turns the Kelvin sign into "k", which would be a second spelling.
    return text.lower() if text.isascii() else text


def check_distinct(names: Iterable[AccountName], where: str) -> None:
    """ConfigError when two names differ only in '-' versus '_'."""
    seen: dict[str, AccountName] = {}
    for name in sorted(names):
        first = seen.setdefault(name.replace("-", "_"), name)
        if first != name:
            raise ConfigError(f"{where}: expected account names that differ in more than '-' versus '_', "
                              f"found {first!r} and {name!r}")


def page_key_variable(page: str) -> str:
    """STATUSPAGE_KEY_<PAGE ID>: the variable of a page's own Statuspage key."""
    return ENV_PAGE_KEY_PREFIX + page.upper()


def check_page_key_variables(environ: Mapping[str, str], pages: Iterable[str]) -> None:
    """ConfigError for a STATUSPAGE_KEY_* variable that names no page of `pages` (a misspelt
    page id: that page would be read with the shared key). Values are checked when read."""
    expected = sorted(page_key_variable(page) for page in pages)
    for variable in sorted(environ):
        if variable.startswith(ENV_PAGE_KEY_PREFIX) and variable not in expected:
            raise ConfigError(f"{variable}: expected {ENV_PAGE_KEY_PREFIX}<PAGE ID> for a page of STATUSPAGE_PAGE, "
                              f"the page id upper-cased ({', '.join(expected)})")


@dataclass(frozen=True)
class AccountKeys:
    """One PagerDuty account: its REST API key and optional webhook credentials."""

    name: AccountName
    api_key: str = field(repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    webhook_token: str | None = field(default=None, repr=False)


class KeySource(Protocol):
    """Where keys come from. Implementations cache as they see fit."""

    def statuspage_key(self, page: str) -> str:
        """The Statuspage API key for `page`: the page's own where it has one, else the shared one."""

    def accounts(self) -> dict[AccountName, AccountKeys]:
        """Every configured PagerDuty account."""

    def account_names(self) -> set[AccountName]:
        """The names of every configured account, without reading their keys: `check` reads
        each on its own, so that one broken account does not hide the others."""

    def account(self, name: AccountName, fresh: bool = False) -> AccountKeys | None:
        """One account, or None when it is not configured.

        fresh: its webhook credentials read again unless read moments ago (a cache
        may hold a rotated-out token), for a second look at a refused webhook.
        """


class EnvKeySource:
    """Keys from environment variables: STATUSPAGE_KEY, the optional STATUSPAGE_KEY_<PAGE ID>,
    PD_ACCOUNT_<NAME>, and the optional PD_WEBHOOK_SECRET_<NAME> / PD_WEBHOOK_TOKEN_<NAME>;
    <NAME> is the name upper-cased, <PAGE ID> the page id upper-cased.
    runtime.key_source checks the STATUSPAGE_KEY_* variables against the pages first.
    A webhook credential set but blank is a ConfigError, never "no credential": it would
    otherwise open the account to anyone."""

    def __init__(self, environ: Mapping[str, str] = os.environ, on_secret: Callable[[str], None] = lambda value: None):
        """on_secret: called with every key read, so that the logs mask it."""
        self._environ = environ
        self._on_secret = on_secret

    def statuspage_key(self, page: str) -> str:
        own = page_key_variable(page)
        if own in self._environ:
            key = self._environ[own].strip()
            if not key:  # never "use the shared key": that is what leaving it unset says
                raise ConfigError(f"{own}: set but blank; expected page {page}'s Statuspage API key "
                                  f"(unset it for the page to use {ENV_STATUSPAGE_KEY})")
        else:
            key = self._environ.get(ENV_STATUSPAGE_KEY, "").strip()
            if not key:
                raise ConfigError(f"{ENV_STATUSPAGE_KEY}: not set (the Statuspage API key; page {page} has no {own})")
        self._on_secret(key)
        return key

    def accounts(self) -> dict[AccountName, AccountKeys]:
        found = {name: keys for name in sorted(self.account_names()) if (keys := self.account(name)) is not None}
        if not found:
            raise ConfigError(f"{ENV_ACCOUNT_PREFIX}<NAME>: no PagerDuty account configured")
        return found

    def account_names(self) -> set[AccountName]:
        names = set()
        for variable in sorted(self._environ):
            if not variable.startswith(ENV_ACCOUNT_PREFIX):
                continue
            suffix = variable[len(ENV_ACCOUNT_PREFIX):]
            name = AccountName.parse(suffix, variable, any_case=True)
            # Any other spelling would not be found again by account(): the account, and
            # with it its open incidents, would be silently dropped from the webhooks.
            if name.upper() != suffix or "-" in name:
                raise ConfigError(f"{variable}: expected upper-case letters, digits and _ after "
                                  f"{ENV_ACCOUNT_PREFIX}, found {suffix!r}")
            if self._environ[variable].strip():
                names.add(name)
        return names

    def account(self, name: AccountName, fresh: bool = False) -> AccountKeys | None:
        """fresh: no difference here, the environment is read every time."""
        if "-" in name:  # PD_ACCOUNT_OTHER_TEAM is other_team, never other-team
            return None
        suffix = name.upper()
        api_key = self._environ.get(ENV_ACCOUNT_PREFIX + suffix, "").strip()
        if not api_key:
            return None
        secret = self._credential(ENV_WEBHOOK_SECRET_PREFIX + suffix, name)
        token = self._credential(ENV_WEBHOOK_TOKEN_PREFIX + suffix, name)
        for value in (api_key, secret, token):
            if value:
                self._on_secret(value)
        return AccountKeys(name=name, api_key=api_key, webhook_secret=secret, webhook_token=token)

    def _credential(self, variable: str, account: AccountName) -> str | None:
        value = self._environ.get(variable)
        if value is None:
            return None
        if not value.strip():
            raise ConfigError(f"{variable}: expected a webhook credential, found a blank value "
                              "(unset the variable for none)", account=account,
                              fix=f"set {variable} to the account's webhook credential, or unset it")
        return value.strip()
