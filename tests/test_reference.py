"""Where the tests find the official reference material, what happens without it, and
`make reference` (tests/harness/fetch_reference.py), offline: its extraction and hash
check run on local file:// sources laid out as upstream publishes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.harness import fetch_reference, reference
from tests.harness.fetch_reference import FILES, WEBHOOK_EXAMPLES, FetchError, fetch
from tests.harness.network import refusing


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository at tmp_path/repo with nothing beside it or in it, nor in the environment."""
    repo = tmp_path / "repo"
    repo.mkdir()
    monkeypatch.setattr(reference, "REPO", repo)
    monkeypatch.delenv(reference.DIR_VARIABLE, raising=False)
    monkeypatch.delenv(reference.REQUIRED_VARIABLE, raising=False)
    return repo


def test_the_variable_comes_first_then_shared_beside_the_repo_then_fetched_in_it(checkout, monkeypatch):
    assert reference.reference_dir() is None
    (checkout / ".reference").mkdir()
    assert reference.reference_dir() == checkout / ".reference"
    (checkout.parent / "shared" / "reference").mkdir(parents=True)
    assert reference.reference_dir() == checkout.parent / "shared" / "reference"
    (checkout / "elsewhere").mkdir()
    monkeypatch.setenv(reference.DIR_VARIABLE, "elsewhere")  # relative to the repository
    assert reference.reference_dir() == checkout / "elsewhere"
    monkeypatch.setenv(reference.DIR_VARIABLE, str(checkout / "nowhere"))
    with pytest.raises(FileNotFoundError, match="nowhere"):
        reference.reference_dir()


def test_without_the_material_a_test_is_skipped_naming_make_reference(checkout):
    with pytest.raises(pytest.skip.Exception, match="`make reference`"):
        reference.load_json("statuspage-openapiv3.json")


def test_ci_turns_that_skip_into_a_failure(checkout, monkeypatch):
    monkeypatch.setenv(reference.REQUIRED_VARIABLE, "1")
    with pytest.raises(pytest.fail.Exception, match=r"`make reference`.*PAGERSTATUS_REQUIRE_REFERENCE=1"):
        reference.load_json("statuspage-openapiv3.json")


# --- make reference ---

def upstream_tree(root: Path, material: Path) -> str:
    """The sources as upstream publishes them at the pinned commits, made from the material
    itself: the specs whole, the examples in Markdown among other blocks, the vector in Go."""

    def example(name: str) -> str:
        return f"### {name}\n```json\n{(material / f'pagerduty-webhooks/{name}.json').read_text()}\n```\n"

    vector = json.loads((material / "pagerduty-webhooks/v3-signature-vector.json").read_text())
    v2 = [name for name in WEBHOOK_EXAMPLES if name.startswith("v2-")]
    sources = {
        FILES["pagerduty-rest-openapiv3.json"]: (material / "pagerduty-rest-openapiv3.json").read_text(),
        FILES["statuspage-openapiv3.json"]: (material / "statuspage-openapiv3.json").read_text(),
        FILES["pagerduty-webhooks/v2-incident-trigger.json"]:
            "# V2\n```json\n{\"messages\": [ ... ]}\n```\n" + "".join(map(example, v2)),
        FILES["pagerduty-webhooks/v3-service-updated.json"]:
            "# V3\n```json\n{\"id\": \"PSUB\"}\n```\n" + example("v3-incident-priority_updated")
            + example("v3-service-updated"),
        FILES["pagerduty-webhooks/v3-signature-vector.json"]: (
            f'const (\n\tsecret      = "{vector["secret"]}" /* #nosec */\n\tdefaultBody = `{vector["body"]}`\n)\n'
            f'\t\t{{\n\t\t\tname: "valid",\n\t\t\tsig:  "{vector["valid_signature"]}",\n\t\t}},\n'
            f'\t\t{{\n\t\t\tname: "mismatch",\n\t\t\tsig:  "{vector["invalid_signature"]}",\n\t\t}},\n'),
    }
    for source, text in sources.items():
        path = root / source.upstream[0] / source.upstream[1] / source.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return f"file://{root}/{{repo}}/{{commit}}/{{path}}"


def test_make_reference_extracts_every_file_byte_for_byte_and_checks_its_hash(tmp_path):
    material = reference.require_reference()
    assert sorted(p.relative_to(material).as_posix() for p in material.rglob("*.json")) == sorted(FILES)
    fetch(tmp_path / ".reference", upstream_tree(tmp_path / "upstream", material))
    for name in FILES:
        assert (tmp_path / ".reference" / name).read_bytes() == (material / name).read_bytes(), name


@pytest.mark.parametrize("upstream,extract,error", [
    ('{"openapi": "3.0.0"}', json.loads, r"x\.json from .* has sha256 [0-9a-f]{64}, not the pinned 0{64}"),
    ("# Overview\nno examples here\n", fetch_reference.example("incident.x"),
     r"x\.json: cannot extract it .*no JSON example of incident\.x"),
])
def test_a_file_that_cannot_be_extracted_or_does_not_match_its_hash_writes_nothing(
        tmp_path, monkeypatch, upstream, extract, error):
    (tmp_path / "upstream.txt").write_text(upstream)
    (tmp_path / ".reference").mkdir()
    (tmp_path / ".reference" / "kept.json").write_text("{}")
    monkeypatch.setattr(fetch_reference, "FILES", {"x.json": fetch_reference.Source(
        ("owner/repo", "0" * 40), "upstream.txt", extract, "0" * 64)})
    with pytest.raises(FetchError, match=error):
        fetch(tmp_path / ".reference", f"file://{tmp_path}/{{path}}")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".reference", "upstream.txt"]
    assert [p.name for p in (tmp_path / ".reference").iterdir()] == ["kept.json"]


def test_offline_make_reference_fails_clearly(tmp_path, capsys):
    with refusing() as closed:
        assert fetch_reference.main(["--into", str(tmp_path / ".reference"),
                                     "--source", f"{closed}/{{repo}}/{{commit}}/{{path}}"]) == 1
    error = capsys.readouterr().err
    assert "cannot fetch" in error and "needs internet access" in error and "nothing written" in error
    assert list(tmp_path.iterdir()) == []
