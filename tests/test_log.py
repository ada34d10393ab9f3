"""Logs are JSON lines Cloud Logging parses, library records included, and never carry a key."""
import base64
import io
import json
import logging
from urllib.parse import quote, quote_plus

import pytest

from pagerstatus import log


@pytest.fixture
def logs():
    stream = io.StringIO()
    redactor = log.configure(stream)
    yield stream, redactor
    log.configure(None)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_json_object_per_line_with_severity_and_fields(logs):
    stream, _ = logs
    log.info("opened", action="open", component="api", incidents={"P1", "P0"}, absent=None)
    [entry] = lines(stream)
    assert entry["severity"] == "INFO" and entry["message"] == "opened"
    assert entry["action"] == "open" and entry["component"] == "api"
    assert entry["incidents"] == ["P0", "P1"] and "absent" not in entry and "logger" not in entry


def test_registered_secrets_are_masked_everywhere(logs):
    stream, redactor = logs
    redactor.add("u+supersecretkey1234")
    log.error("failed with u+supersecretkey1234", headers={"Authorization": "Token token=u+supersecretkey1234"},
              items=["x u+supersecretkey1234"])
    out = stream.getvalue()
    assert "supersecretkey" not in out
    assert out.count("********1234") == 3


def test_library_records_are_json_and_masked_too(logs):
    stream, redactor = logs
    redactor.add("sk-library-key-9876")
    logging.getLogger("urllib3.connectionpool").warning("Retrying after %s: %s", "429", "sk-library-key-9876")
    [entry] = lines(stream)
    assert entry["severity"] == "WARNING" and entry["logger"] == "urllib3.connectionpool"
    assert entry["message"] == "Retrying after 429: ********9876"


def test_a_traceback_is_one_field_and_masked(logs):
    stream, redactor = logs
    redactor.add("sk-in-a-traceback-5555")
    try:
        raise ValueError("bad sk-in-a-traceback-5555")
    except ValueError:
        log.LOGGER.exception("unexpected error")
    [entry] = lines(stream)
    assert "ValueError" in entry["traceback"] and "sk-in-a-traceback" not in entry["traceback"]


def test_configure_twice_keeps_the_redactor_and_one_handler(logs):
    stream, redactor = logs
    assert log.configure(stream) is redactor
    log.info("once")
    assert len(lines(stream)) == 1


def test_gunicorns_loggers_are_taken_over(logs):
    stream, _ = logs
    gunicorn = logging.getLogger("gunicorn.error")
    own = logging.StreamHandler(io.StringIO())
    gunicorn.handlers, gunicorn.propagate = [own], False
    log.take_over_gunicorn()
    gunicorn.error("Worker timeout")
    assert own.stream.getvalue() == ""
    assert lines(stream)[0]["logger"] == "gunicorn.error"


def test_short_values_are_not_masked():
    redactor = log.Redactor()
    redactor.add("abc")
    assert redactor.redact("abc abc") == "abc abc"


# A key with the characters each encoding changes; its base64 holds "+" and "/" ("-" and "_" URL-safe).
KEY = "pk+/~?>>key-0123456789=Z"


def b64(text: str, alphabet=base64.b64encode) -> str:
    return alphabet(text.encode()).decode()


ECHOES = {
    "as is": KEY,
    "URL-encoded": quote(KEY, safe=""),
    "URL-encoded, / kept": quote(KEY),
    "form-encoded": quote_plus(KEY),
    "JSON": json.dumps(KEY),
    "JSON with \\/": json.dumps(KEY).replace("/", "\\/"),
    "base64": b64(KEY),
    "base64 without padding": b64(KEY).rstrip("="),
    "URL-safe base64": b64(KEY, base64.urlsafe_b64encode),
    "HTTP Basic (base64 of user:key)": b64("user:" + KEY),
    "base64, key at offset 1": b64("u" + KEY + "!"),
    "base64, key at offset 2, URL-safe": b64("us" + KEY + "!?", base64.urlsafe_b64encode),
    "in a query string": "https://x.example/?token=" + quote_plus(KEY) + "&page=2",
}


@pytest.mark.parametrize("echo", ECHOES.values(), ids=ECHOES.keys())
def test_a_key_echoed_back_encoded_is_masked(echo):
    redactor = log.Redactor()
    redactor.add(KEY)
    masked = redactor.redact(f"upstream said: {echo}; done")
    assert "********" in masked and masked.startswith("upstream said: ") and masked.endswith("; done")
    # No run of the key, or of its encodings, longer than the few characters a mask keeps.
    for form in log.encoded_forms(KEY):
        assert not any(form[i:i + 8] in masked for i in range(len(form) - 7)), (form, masked)


def test_base64_is_masked_only_where_it_encodes_the_key():
    redactor = log.Redactor()
    redactor.add(KEY)
    unrelated = b64("user:another-secret-entirely-0000")
    assert redactor.redact(unrelated) == unrelated
