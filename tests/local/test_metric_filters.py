"""The CloudWatch Logs JSON filter patterns of terraform/monitoring.tf over the jobs' JSON lines
(totes/local/metric_filters.py)."""

from __future__ import annotations

import json

import pytest

from totes.local.metric_filters import UnsupportedPattern, matches, metric_value

LINES = [
    json.dumps({"level": "INFO", "message": "job started", "job": "totesys-dev-ingest"}),
    json.dumps({"level": "INFO", "message": "table ingested", "table": "staff", "rows": 20}),
    json.dumps({"level": "INFO", "message": "table loaded", "table": "dim_staff", "rows": 7}),
    json.dumps({"level": "ERROR", "message": "job failed; bookmark not advanced", "error": "boom"}),
    "Traceback (most recent call last):",
    json.dumps({"level": "INFO", "message": "job succeeded", "rows": 27}),
]


def test_an_equality_term_selects_exactly_the_lines_with_that_value():
    assert [matches('{ $.level = "ERROR" }', line) for line in LINES] == [False, False, False, True, False, False]


def test_a_trailing_star_matches_a_prefix_and_a_missing_field_never_matches():
    assert matches('{ $.message = "job failed*" }', LINES[3])
    assert not matches('{ $.message = "job failed*" }', LINES[0])
    assert not matches('{ $.missing = "x" }', LINES[0])
    assert matches('{ $.level != "ERROR" }', LINES[0]) and not matches('{ $.level != "ERROR" }', LINES[3])


def test_alternatives_in_parentheses_and_the_value_of_a_field_sum_as_the_metric_would():
    rows = '{ ($.message = "table ingested") || ($.message = "fact built") || ($.message = "table loaded") }'
    assert metric_value(rows, "$.rows", LINES) == 27
    assert metric_value('{ $.message = "job started" }', "1", LINES) == 1
    assert metric_value('{ ($.level = "INFO") && ($.table = "staff") }', "1", LINES) == 1


def test_a_line_that_is_not_json_is_never_selected_and_an_unknown_form_is_refused():
    assert not matches('{ $.level = "ERROR" }', "ERROR something")
    with pytest.raises(UnsupportedPattern):
        matches('{ $.rows > 5 }', LINES[1])
    with pytest.raises(UnsupportedPattern):
        matches('"ERROR"', LINES[3])
