"""CloudWatch Logs JSON filter patterns, the subset terraform/monitoring.tf uses, matched against log lines.

Why here: the rehearsal must check that the metric filters Terraform creates see the jobs' JSON lines, and
neither AWS's ``TestMetricFilter`` nor a metric filter that counts can run here. moto 5.1 stores metric filters
but never evaluates them, and its ``FilterLogEvents`` treats a ``{ ... }`` pattern as matching every event
(``moto/logs/utils.py``: ``UnsupportedFilterPattern``), so checking with it would prove nothing. This evaluates
the documented JSON pattern forms the configuration uses, and refuses any other form instead of guessing:
``{ $.field = "text" }``, ``!=``, a trailing ``*`` wildcard in the text, and terms joined with ``&&`` / ``||``
in parentheses (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html).
"""

from __future__ import annotations

import json
import re

_TERM = re.compile(r'\s*\$\.([A-Za-z0-9_.]+)\s*(=|!=)\s*"((?:[^"\\]|\\.)*)"\s*')


class UnsupportedPattern(ValueError):
    """A pattern form this evaluator does not implement."""


def _field(event: dict, path: str):
    value = event
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _term_matches(event: dict, path: str, operator: str, text: str) -> bool:
    value = _field(event, path)
    if value is None:
        return False
    value = str(value)
    if text.endswith("*"):
        equal = value.startswith(text[:-1])
    else:
        equal = value == text
    return equal if operator == "=" else not equal


def _evaluate(expression: str, event: dict) -> bool:
    expression = expression.strip()
    for operator in ("||", "&&"):
        depth, parts, start = 0, [], 0
        for position, char in enumerate(expression):
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth == 0 and expression.startswith(operator, position):
                parts.append(expression[start:position])
                start = position + len(operator)
        if parts:
            parts.append(expression[start:])
            results = [_evaluate(part, event) for part in parts]
            return any(results) if operator == "||" else all(results)
    if expression.startswith("(") and expression.endswith(")"):
        return _evaluate(expression[1:-1], event)
    match = _TERM.fullmatch(expression)
    if not match:
        raise UnsupportedPattern(f"filter pattern term {expression!r} is not a form this evaluator implements")
    return _term_matches(event, match.group(1), match.group(2), json.loads(f'"{match.group(3)}"'))


def matches(pattern: str, message: str) -> bool:
    """Whether a CloudWatch Logs JSON filter pattern selects the log event ``message``."""
    pattern = pattern.strip()
    if not (pattern.startswith("{") and pattern.endswith("}")):
        raise UnsupportedPattern(f"filter pattern {pattern!r} is not a JSON pattern")
    try:
        event = json.loads(message)
    except ValueError:
        return False  # a JSON pattern never selects a line that is not JSON
    return isinstance(event, dict) and _evaluate(pattern[1:-1], event)


def metric_value(pattern: str, value: str, messages: list[str]) -> float:
    """What the metric filter publishes over these events: the sum of its value, ``$.field`` or a number."""
    total = 0.0
    for message in messages:
        if not matches(pattern, message):
            continue
        if value.startswith("$."):
            field_value = _field(json.loads(message), value[2:])
            total += float(field_value) if isinstance(field_value, (int, float)) else 0.0
        else:
            total += float(value)
    return total
