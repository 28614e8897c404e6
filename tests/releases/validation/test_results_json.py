"""A run's results are stored as JSON text whose digest finds an earlier run with the same
results: every entry must be exactly the compact, key-sorted JSON of its values, whichever
way it was written."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from releases.validation.runs import _compact_json, _entry_json, _result_entry

names = st.text(min_size=1, max_size=60)
commits = st.one_of(st.none(), st.text(alphabet="0123456789abcdef", min_size=7, max_size=40))
states = st.sampled_from(["valid", "warning", "invalid", "unreachable", "unchecked"])
findings = st.lists(
    st.fixed_dictionaries(
        {
            "code": st.sampled_from(["sha-mismatch", "tag-missing", "yanked"]),
            "severity": st.sampled_from(["error", "warning"]),
            "path": st.just("repositories[0].commit_sha"),
            "message": st.text(max_size=40),
        }
    ),
    max_size=2,
)


@given(st.integers(min_value=0, max_value=10_000), names, states, commits, findings)
def test_an_entry_is_the_compact_sorted_json_of_its_values(
    index: int, name: str, state: str, commit: str | None, found: list[dict[str, str]]
) -> None:
    entry = _result_entry(index, name, state, commit, found)
    text = _entry_json(entry)
    assert text == _compact_json(entry)
    assert json.loads(text) == entry


def test_a_clean_entry_with_a_unicode_name_reads_back() -> None:
    entry = _result_entry(7, 'grüße/naïve "quoted" \\ name', "valid", "a" * 40, [])
    assert json.loads(_entry_json(entry))["repository"] == 'grüße/naïve "quoted" \\ name'
    assert _entry_json(entry) == _compact_json(entry)
