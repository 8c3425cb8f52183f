"""Errors of the warehouse and the load job, each saying what is wrong and never carrying a password.

Every one of them fails the load run; the warehouse transaction is rolled back and the bookmark does not move.
"""

from __future__ import annotations

from dataclasses import dataclass


class WarehouseError(RuntimeError):
    """Base class: the warehouse step failed and changed nothing."""


class WarehouseUnavailableError(WarehouseError):
    """The warehouse could not be reached or refused the credentials (names the user, never the password)."""


class WarehouseSchemaError(WarehouseError):
    """The warehouse tables differ from ``totes/star.py``; the message lists every difference."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("the warehouse schema does not match totes/star.py: " + "; ".join(self.problems))


class MigrationError(WarehouseError):
    """A migration cannot be applied: an applied file changed or vanished, a bad name, a failed script."""


class BatchInputError(WarehouseError):
    """The batch is unusable: a manifest or file missing or corrupt, or rows breaking a table's contract."""


@dataclass(frozen=True)
class OrphanKey:
    """A foreign-key value of a staged fact row that has no dimension row."""

    table: str
    column: str
    value: object
    dimension: str
    rows: int
    constraint: str | None = None  # the foreign key's name in the warehouse

    def __str__(self) -> str:
        constraint = f", foreign key {self.constraint}" if self.constraint else ""
        return (f"{self.table}.{self.column} = {self.value} has no {self.dimension} row "
                f"({self.rows} rows{constraint})")


class ForeignKeyViolation(WarehouseError):
    """Staged fact rows refer to dimension rows that exist neither in the warehouse nor in the batch."""

    # Enough offending keys to act on; the total says how many more there are.
    SHOWN = 20

    def __init__(self, orphans: list[OrphanKey]):
        self.orphans = list(orphans)
        shown = "; ".join(str(orphan) for orphan in self.orphans[: self.SHOWN])
        more = len(self.orphans) - self.SHOWN
        super().__init__(
            f"{len(self.orphans)} foreign-key values of the batch have no dimension row, nothing was loaded: "
            f"{shown}"
            + (f"; and {more} more" if more > 0 else "")
        )
