"""Logs are JSON lines Cloud Logging parses, and never carry a key."""
import json

from pagerstatus import log


def test_one_json_object_per_line_with_severity_and_fields(capsys):
    log.info("opened", action="open", component="api", incidents={"P1", "P0"})
    line = capsys.readouterr().out.strip()
    entry = json.loads(line)
    assert entry["severity"] == "INFO" and entry["message"] == "opened"
    assert entry["action"] == "open" and entry["component"] == "api"
    assert entry["incidents"] == ["P0", "P1"]


def test_registered_secrets_are_masked_everywhere(capsys):
    log.register_secret("u+supersecretkey1234")
    log.error("failed with u+supersecretkey1234", headers={"Authorization": "Token token=u+supersecretkey1234"},
              items=["x u+supersecretkey1234"])
    out = capsys.readouterr().out
    assert "supersecretkey" not in out
    assert out.count("********1234") == 3
