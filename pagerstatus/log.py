"""Structured logs through the standard `logging` module: one JSON object per line
on stdout, as Cloud Logging parses them, with every key masked.

configure() gives the root logger one handler whose JSON formatter masks every
key, so library records (urllib3's retries, google-auth, functions-framework,
gunicorn's worker) come out as JSON and masked too. The masking is the root
handler's, not a logger filter's: a logger's filters never see the records its
children propagate.

The module functions info/warning/error log on the "pagerstatus" logger with
structured fields: log.info("opened", component="api").
"""
from __future__ import annotations

import base64
import functools
import json
import logging
import re
import sys
import threading
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import quote, quote_plus

LOGGER = logging.getLogger("pagerstatus")
# The LogRecord attribute that carries a record's structured fields.
FIELDS = "pagerstatus_fields"
# Loggers that keep handlers of their own and do not propagate; take_over_gunicorn() reroutes them.
GUNICORN_LOGGERS = ("gunicorn.error", "gunicorn.access")


class Redactor:
    """The secret values this process has loaded, and their masking.

    A value is masked keeping its last four characters, as pdpyras does. Values
    shorter than MIN_SECRET_LENGTH are not masked: masking "a" would mangle every
    line, and such values are no credentials anyway.

    An upstream may echo a key back encoded, so each is masked in the forms
    encoded_forms() lists too. Out of reach of this substring masking: a key
    encoded in any other way (hex, line-wrapped base64, compressed, encoded
    twice), and a key cut short before it was encoded.
    """

    MIN_SECRET_LENGTH = 6

    def __init__(self) -> None:
        self._secrets: frozenset[str] = frozenset()
        # (pattern matching every form of every secret, the mask of each form), replaced whole
        # on add(): a thread masking a line meanwhile uses the pair it read, undisturbed.
        self._masks: tuple[re.Pattern[str] | None, dict[str, str]] = (None, {})
        self._lock = threading.Lock()

    def add(self, value: str | None) -> None:
        if not value or len(value) < self.MIN_SECRET_LENGTH or value in self._secrets:
            return
        with self._lock:
            self._secrets = self._secrets | {value}
            masks = {form: mask for secret in self._secrets for form, mask in encoded_forms(secret).items()}
            # Longest first, so that a form containing another is masked whole.
            pattern = re.compile("|".join(re.escape(form) for form in sorted(masks, key=len, reverse=True)))
            self._masks = (pattern, masks)

    def redact(self, text: str) -> str:
        pattern, masks = self._masks
        if pattern is None:
            return text
        return pattern.sub(lambda match: masks[match.group(0)], text)

    def clean(self, value: Any) -> Any:
        """A JSON-ready copy of value with every string redacted."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {str(k): self.clean(v) for k, v in value.items()}
        if isinstance(value, (set, frozenset)):
            return [self.clean(v) for v in sorted(value, key=str)]
        if isinstance(value, (list, tuple)):
            return [self.clean(v) for v in value]
        if value is None or isinstance(value, (bool, int, float)):
            return value
        return self.redact(str(value))


# Base64 characters that depend on a secret's bytes alone must run this long to be masked;
# a shorter run could turn up in unrelated base64 by chance.
MIN_BASE64_RUN = 8


def encoded_forms(secret: str) -> dict[str, str]:
    """Each form of the secret with its mask: as it is, and as an upstream may echo it,
    URL-encoded (quote, quote_plus), JSON-escaped (also with "/" as "\\/"), and in base64,
    standard and URL-safe, alone or inside a longer value such as HTTP Basic's
    base64("user:key"). Text forms keep their last four characters, as the key does.

    A key inside base64 starts at one of three offsets within a 3-byte group; for each,
    the run of characters that encode the key's bytes alone is a form, masked whole. The
    one or two bytes at each end share characters with their neighbours and stay readable.
    """
    escaped = json.dumps(secret)[1:-1]
    texts = {secret, quote(secret), quote(secret, safe=""), quote_plus(secret), escaped, escaped.replace("/", "\\/")}
    forms = {form: "*" * 8 + form[-4:] for form in texts}
    raw = secret.encode()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        for offset in range(3):
            encoded = encode(bytes(offset) + raw).decode("ascii")
            first_group = -(-offset // 3)  # the first 3-byte group holding nothing but the secret
            last_group = (offset + len(raw)) // 3  # one past the last such group
            run = encoded[4 * first_group:4 * last_group]
            if len(run) >= MIN_BASE64_RUN:
                forms.setdefault(run, "*" * 8)
    return forms


class JsonFormatter(logging.Formatter):
    """One JSON object per record, every key in it masked: severity, message, time,
    the logger when not ours, the record's fields, then any traceback."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": record.levelname,
            "message": self.redactor.redact(record.getMessage()),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
        }
        if record.name != LOGGER.name:
            entry["logger"] = record.name
        entry.update(self.redactor.clean(getattr(record, FIELDS, None) or {}))
        if record.exc_info:
            entry["traceback"] = self.redactor.redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


_handler_lock = threading.Lock()


def configure(stream: TextIO | None = None, level: int = logging.INFO) -> Redactor:
    """Route every log record through one JSON, redacting handler; returns its Redactor.

    Idempotent: a second call keeps the first call's redactor (every key
    registered so far stays masked) and only moves the output to `stream`
    (None: sys.stdout at write time, which pytest's capsys can swap).
    """
    root = logging.getLogger()
    with _handler_lock:
        handler = _our_handler() or _JsonHandler(Redactor())
        handler.stream_override = stream
        # functions-framework may have added plain-text handlers; ours replaces them.
        root.handlers = [handler]
        root.setLevel(level)
    return handler.redactor


def take_over_gunicorn() -> None:
    """Make gunicorn's loggers write through our handler.

    gunicorn sets its own handlers up after the function's module is imported
    (and again in each worker), so this runs in the worker, on its first
    request; the master's start-up lines stay gunicorn's own.
    """
    handler = _our_handler()
    if handler is None:
        return
    for name in GUNICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.propagate = False


class _JsonHandler(logging.StreamHandler):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor
        self.stream_override: TextIO | None = None
        self.setFormatter(JsonFormatter(redactor))

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = self.stream_override or sys.stdout
        super().emit(record)


def _our_handler() -> _JsonHandler | None:
    return next((h for h in logging.getLogger().handlers if isinstance(h, _JsonHandler)), None)


def _log(level: int, message: str, /, **fields: Any) -> None:
    LOGGER.log(level, message, extra={FIELDS: {k: v for k, v in fields.items() if v is not None}})


info = functools.partial(_log, logging.INFO)
warning = functools.partial(_log, logging.WARNING)
error = functools.partial(_log, logging.ERROR)
