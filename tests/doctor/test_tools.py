"""The tool checks' judgements: write-sounding names, JSON Schema validity, the search shape."""

from __future__ import annotations

import pytest

from bridgehead.doctor.tools import results_problem, schema_problem, write_verb


@pytest.mark.parametrize(
    ("name", "description", "verb"),
    [
        ("create_ticket", "Open a ticket.", "create"),
        ("sendEmail", "Email someone.", "send"),
        ("notes.delete", "Remove a note.", "delete"),
        ("ticket_tool", "Updates a ticket's status.", "update"),
        ("search", "Search documents updated this week.", None),
        ("fetch", "Fetch the full text of a document.", None),
        ("get-settings", "Returns the settings.", None),
        ("trigger-long-running-operation", "Demonstrates progress updates.", None),
    ],
)
def test_write_verbs(name: str, description: str, verb: str | None) -> None:
    assert write_verb(name, description) == verb


def test_schema_validity() -> None:
    assert schema_problem({"type": "object", "properties": {"q": {"type": "string"}}}) is None
    problem = schema_problem({"type": "object", "properties": {"q": {"type": "strng"}}})
    assert problem and "properties/q/type" in problem
    assert schema_problem({"type": "object", "required": "q"}) is not None
    assert schema_problem(["not", "a", "schema"]) == "not a JSON object (list)"
    # An explicit older draft is checked against that draft's metaschema.
    draft7 = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalItems": False,
    }
    assert schema_problem(draft7) is None


def test_search_shape() -> None:
    assert results_problem({"results": [{"id": "1", "title": "T", "url": "https://x"}]}) is None
    assert results_problem({"results": []}) is None
    assert "bare list" in (results_problem([{"id": "1"}]) or "")
    assert 'no "results" list' in (results_problem({"documents": []}) or "")
    assert "lacks string url" in (results_problem({"results": [{"id": "1", "title": "T"}]}) or "")
