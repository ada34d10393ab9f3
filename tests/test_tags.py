"""Component ids in monitor tags: a table of cases, then properties."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pagerstatus.tags import component_ids_from_tags, split_tags, tags_from_alerts, tags_from_log_entry


@pytest.mark.parametrize(
    ("tags", "ids"),
    [
        # Datadog: one comma-separated string
        ("env:prod, component:abc123,team:x", {"abc123"}),
        ("component:abc123,component:def456", {"abc123", "def456"}),
        ("  component:abc123  ", {"abc123"}),
        # Pingdom: a list, and its underscore form
        (["component_abc123", "x"], {"abc123"}),
        (["component_abc123", " component:def456 "], {"abc123", "def456"}),
        # ids are lower-cased; the prefix is matched in any case
        ("component:ABC123", {"abc123"}),
        (["Component_Abc123"], {"abc123"}),
        # only whole tags count
        ("subcomponent:abc123", set()),
        (["mycomponent_abc123"], set()),
        ("component:abc123x:y", set()),
        ("component:abc 123", set()),
        ("component:abc-123", set()),
        ("components:abc123", set()),
        # an empty id is no id
        ("component:", set()),
        (["component_"], set()),
        # a Unicode digit is not a Statuspage id character
        ("component:abc\u0663", set()),
        # nothing usable
        (None, set()),
        ("", set()),
        (42, set()),
        ({"component": "abc123"}, set()),
        ([None, 7, "component_abc123"], {"abc123"}),
    ],
)
def test_component_ids_from_tags(tags, ids):
    assert component_ids_from_tags(tags) == frozenset(ids)


def test_split_tags_strips_and_drops_empty_items():
    assert split_tags(" a , ,b,") == ["a", "b"]
    assert split_tags([" a ", "", "b"]) == ["a", "b"]


@pytest.mark.parametrize(
    ("entry", "tags"),
    [
        ({"channel": {"details": {"tags": "env:prod,component:abc"}}}, ["env:prod", "component:abc"]),
        ({"channel": {"details": {"tags": ["component_abc", "x"]}}}, ["component_abc", "x"]),
        # a manual trigger's details are a plain string
        ({"channel": {"type": "web_trigger", "details": "Oh my gosh"}}, []),
        ({"channel": {"details": {}}}, []),
        ({"channel": {"details": None}}, []),
        ({"channel": None}, []),
        ({}, []),
        # a log entry reference, as returned without include[]=first_trigger_log_entries
        ({"id": "Q02JTSNZWHSEKV", "type": "trigger_log_entry_reference"}, []),
    ],
)
def test_tags_from_log_entry(entry, tags):
    assert tags_from_log_entry(entry) == tags


def test_tags_from_alerts_unites_details_and_cef_details_of_every_alert():
    alerts = [
        {"body": {"details": {"tags": "env:prod,component:abc"}}},
        {"body": {"cef_details": {"details": {"tags": ["component_def", "env:prod"]}}}},
        {"body": {"details": "a string", "cef_details": None}},
        {"body": None},
        {},
    ]
    assert tags_from_alerts(alerts) == ["env:prod", "component:abc", "component_def"]
    assert component_ids_from_tags(tags_from_alerts(alerts)) == {"abc", "def"}
    assert tags_from_alerts([]) == []


# --- properties ---

component_ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
other_tags = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789:_-. ", max_size=20).filter(
    lambda tag: not tag.strip().lower().startswith(("component:", "component_"))
)


@given(st.sets(component_ids, max_size=5), st.lists(other_tags, max_size=5), st.randoms())
def test_ids_survive_the_string_and_the_list_forms(ids, others, random):
    tags = [f"component:{i}" for i in ids] + [f"component_{i}" for i in ids] + others
    random.shuffle(tags)
    assert component_ids_from_tags(",".join(tags)) == ids
    assert component_ids_from_tags(tags) == ids


@given(component_ids, st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789:_-", min_size=1, max_size=8),
       st.sampled_from([":", "_"]))
def test_a_component_tag_inside_a_longer_tag_never_matches(component_id, extra, separator):
    tag = f"component{separator}{component_id}"
    assert component_ids_from_tags([f"sub{tag}", f"{extra}{tag}"]) == frozenset()
    assert component_ids_from_tags([f"{tag}:{extra}", f"{tag}-{extra}"]) == frozenset()
