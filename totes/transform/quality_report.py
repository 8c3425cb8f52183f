"""The data-quality report of a transformation run: per fact table and quality rule, the rows checked, passed,
quarantined and released, with examples of the reasons.

How rows are counted. The candidates of a fact table are the run's new rows plus the rows earlier runs held
back (every run judges those again, so that a parent that arrived releases them). The rules judge in the order
of :data:`totes.transform.quality.QUALITY_RULES`, and a row is held by the first rule it breaks (its reason lists
every rule it breaks). So, per rule: ``checked`` are the rows that passed every earlier rule, ``quarantined``
the rows it holds, ``passed = checked - quarantined`` (what the next rule checks), and ``released`` the rows it
held in the previous run that pass now. The rules' quarantined rows add up to the table's.

The quarantine share of a run is the share of its *new* rows held back. Rows held since earlier runs are left
out on purpose: a few rows that stay held for days (a parent that never comes) would otherwise keep a small
delta's share above any threshold long after the alert said so.

Plain Python, no Spark: the local status page, the dashboard and the runner's alerts read reports from
manifests. The counts are produced by :func:`totes.transform.quality.judged_quality`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# Where a fact's report is kept in its manifest's table details.
QUALITY_DETAILS = "quality"
MAX_QUARANTINE_SHARE_ARGUMENT = "--max-quarantine-share"
# A delta in which more than one row in twenty is held back means a source or contract problem, not a typo.
DEFAULT_MAX_QUARANTINE_SHARE = 0.05
MAX_EXAMPLES = 3


@dataclass(frozen=True)
class RuleGroup:
    """One group of the judged rows: the rule that holds them now (None: they pass), the rule they were held
    for before this run (None: new rows), how many, and up to a few example reasons."""

    rule: str | None
    held_rule: str | None
    rows: int
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleCounts:
    checked: int
    passed: int
    quarantined: int
    released: int
    examples: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TableQuality:
    """The report of one fact table in one run (see the module docstring for what each count means)."""

    checked: int
    passed: int
    quarantined: int
    released: int
    new_checked: int  # of ``checked``, the run's new rows
    new_quarantined: int  # of ``quarantined``, the run's new rows
    rules: dict[str, RuleCounts]

    @property
    def share(self) -> float:
        """The share of the run's new rows held back; 0 when there were none."""
        return self.new_quarantined / self.new_checked if self.new_checked else 0.0

    @property
    def quarantined_by_rule(self) -> dict[str, int]:
        return {rule: counts.quarantined for rule, counts in self.rules.items() if counts.quarantined}

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TableQuality":
        rules = {rule: RuleCounts(**counts) for rule, counts in data.get("rules", {}).items()}
        return cls(**{**data, "rules": rules})


def table_quality(rules: tuple[str, ...], groups: list[RuleGroup]) -> TableQuality:
    """The report of a table judged by ``rules`` (in judging order) from the groups of its judged rows."""
    unknown = {group.rule for group in groups if group.rule is not None} - set(rules)
    if unknown:
        raise ValueError(f"rows held by rules this table does not have: {sorted(unknown)}")
    checked = sum(group.rows for group in groups)
    counts, remaining = {}, checked
    for rule in rules:
        held = [group for group in groups if group.rule == rule]
        quarantined = sum(group.rows for group in held)
        examples = sorted({example for group in held for example in group.examples})[:MAX_EXAMPLES]
        released = sum(group.rows for group in groups if group.rule is None and group.held_rule == rule)
        counts[rule] = RuleCounts(remaining, remaining - quarantined, quarantined, released, examples)
        remaining -= quarantined
    new = [group for group in groups if group.held_rule is None]
    return TableQuality(
        checked=checked,
        passed=remaining,
        quarantined=checked - remaining,
        released=sum(rule.released for rule in counts.values()),
        new_checked=sum(group.rows for group in new),
        new_quarantined=sum(group.rows for group in new if group.rule is not None),
        rules=counts,
    )


def all_passed(rules: tuple[str, ...], rows: int) -> TableQuality:
    """The report of a batch of new rows that all passed (known without looking at the rows again)."""
    return table_quality(rules, [RuleGroup(None, None, rows)] if rows else [])


@dataclass(frozen=True)
class RunQuality:
    """The reports of one run's fact tables, keyed by fact table."""

    tables: dict[str, TableQuality]

    @property
    def new_checked(self) -> int:
        return sum(report.new_checked for report in self.tables.values())

    @property
    def new_quarantined(self) -> int:
        return sum(report.new_quarantined for report in self.tables.values())

    @property
    def share(self) -> float:
        return self.new_quarantined / self.new_checked if self.new_checked else 0.0

    def exceeds(self, max_share: float) -> bool:
        return self.new_checked > 0 and self.share > max_share

    @classmethod
    def of_details(cls, details_by_table: dict[str, dict]) -> "RunQuality":
        """From a manifest's table details (``{table: details}``); tables without a report are left out."""
        return cls({table: TableQuality.from_dict(details[QUALITY_DETAILS])
                    for table, details in details_by_table.items() if QUALITY_DETAILS in (details or {})})


def max_quarantine_share(text: str | None) -> float:
    """The configured share (the value of ``--max-quarantine-share``, a number from 0 to 1); the default when
    the argument is absent or empty."""
    if text is None or text.strip() == "":
        return DEFAULT_MAX_QUARANTINE_SHARE
    try:
        share = float(text)
    except ValueError:
        share = -1.0
    if not 0 <= share <= 1:
        raise ValueError(f"{MAX_QUARANTINE_SHARE_ARGUMENT} must be a number from 0 to 1 (a share of the run's new "
                         f"rows), got {text!r}")
    return share


def format_share(share: float) -> str:
    return f"{share:.1%}"
