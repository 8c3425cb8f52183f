"""Job arguments the Glue way, with optional ones: Glue's getResolvedOptions makes every named option required."""

from __future__ import annotations

from awsglue.utils import getResolvedOptions


def resolve_args(argv: list[str], required: list[str], optional: dict[str, str]) -> dict:
    """getResolvedOptions for ``required`` plus the ``optional`` ones that were passed; the rest get defaults."""
    present = [name for name in optional if f"--{name}" in argv]
    args = getResolvedOptions(argv, required + present)
    for name, default in optional.items():
        args.setdefault(name.replace("-", "_"), default)
    return args
