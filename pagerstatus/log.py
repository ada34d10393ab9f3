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

import functools
import json
import logging
import sys
import threading
from datetime import UTC, datetime
from typing import Any, TextIO

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
    """

    MIN_SECRET_LENGTH = 6

    def __init__(self) -> None:
        self._secrets: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def add(self, value: str | None) -> None:
        if value and len(value) >= self.MIN_SECRET_LENGTH and value not in self._secrets:
            with self._lock:
                # A new frozenset, never a mutation: a thread masking a line
                # meanwhile iterates over the old one undisturbed.
                self._secrets = self._secrets | {value}

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "*" * 8 + secret[-4:])
        return text

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
