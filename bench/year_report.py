"""The year-of-runs report (bench.year_of_runs): JSON, Markdown and charts in bench/results/."""

from __future__ import annotations

import json
from pathlib import Path

# The targets: with maintenance the last figure of the year within 1.5x of the first (query time, files),
# and a small-delta workflow run no slower than before the change.
FLAT_WITHIN = 1.5


def _files(figures: dict) -> int:
    return sum(table["data_files"] for table in figures["tables"].values())


def _queries(figures: dict) -> float:
    return sum(figures["query_seconds"].values())


def _metadata_bytes(figures: dict) -> int:
    return sum(table.get("metadata_bytes", 0) for table in figures["tables"].values())


def _ratio(last: float, first: float) -> float:
    return round(last / first, 3) if first else float("inf")


def targets(report: dict) -> list[dict]:
    checkpoints = report["year"]["checkpoints"]
    first, last = checkpoints[0], checkpoints[-1]
    rows = [
        {"figure": "named queries, last day / first day", "measured": _ratio(_queries(last), _queries(first)),
         "target": f"<= {FLAT_WITHIN}"},
        {"figure": "fact data files, last day / first day", "measured": _ratio(_files(last), _files(first)),
         "target": f"<= {FLAT_WITHIN}"},
        {"figure": "small delta's fact commits, last day / first day",
         "measured": _ratio(last["small_delta_seconds"], first["small_delta_seconds"]), "target": "(information)"},
    ]
    small = report.get("small_delta")
    if small:
        for kind in ("fresh", "warm"):
            rows.append({"figure": f"small-delta workflow run ({kind} process), after / before",
                         "measured": _ratio(small["after"][f"{kind}_best"]["seconds"],
                                            small["before"][f"{kind}_best"]["seconds"]),
                         "target": "<= 1.0" if kind == "fresh" else "(information)"})
    for row in rows:
        limit = row["target"]
        row["met"] = None if limit.startswith("(") else row["measured"] <= float(limit.split()[-1])
    return rows


def _charts(report: dict, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    year = report["year"]
    after, before = year["checkpoints"], year["before_checkpoints"]
    charts = out / "charts"
    charts.mkdir(parents=True, exist_ok=True)
    paths = []

    def save(fig, name: str) -> None:
        path = charts / name
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)

    for name, title, measure, unit in (
            ("year_files.png", "Fact data files as runs accumulate", _files, "data files (3 fact tables)"),
            ("year_queries.png", "The four named queries (DuckDB) as runs accumulate", _queries, "seconds")):
        fig, ax = plt.subplots(figsize=(8, 4.5))
        ax.plot([c["day"] for c in before], [measure(c) for c in before], "o-", label="before: run folders")
        ax.plot([c["day"] for c in after], [measure(c) for c in after], "s-", label="after: Iceberg, maintained")
        ax.set_yscale("log")
        ax.set_xlabel("simulated day of the 15-minute schedule")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.legend()
        save(fig, name)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    days = [c["day"] for c in after]
    ax.plot(days, [c["small_delta_seconds"] for c in after], "s-", label="a run's three fact MERGEs")
    ax.plot(days, [sum(c["load_read_seconds"].values()) for c in after], "^-", label="the load's read of that run")
    ax.plot(days, [c["maintenance"]["seconds"] for c in after], "d-", label="the day's maintenance")
    ax.set_xlabel("simulated day")
    ax.set_ylabel("seconds (warm JVM)")
    ax.set_title("Iceberg: a small delta's commits and read, and maintenance, over the year")
    ax.legend()
    save(fig, "year_small_delta.png")
    return paths


def _fmt_bytes(count: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return str(count)


def markdown(report: dict) -> str:
    year = report["year"]
    plan = year["plan"]
    lines = [
        "# A year of runs (the processed zone before and after Iceberg)",
        "",
        f"{report['mode'].capitalize()} mode on {report['machine'].get('cores', '?')} cores. Made by "
        "`make bench-year` (bench/year_of_runs.py, bench/year_simulation.py: how each side commits is in their "
        "docstrings). " + "; ".join(
            f"{part}: started {run['started_at']}, {run['seconds'] / 60:.1f} min, 1-minute load average min "
            f"{run['load_average'].get('min')}, mean {run['load_average'].get('mean')}, max "
            f"{run['load_average'].get('max')}" for part, run in sorted(report.get("parts", {}).items())) + ".",
        "",
        "## Targets",
        "",
        "| figure | measured | target | met |",
        "|---|---|---|---|",
    ]
    for row in targets(report):
        met = "-" if row["met"] is None else ("yes" if row["met"] else "**no**")
        lines.append(f"| {row['figure']} | {row['measured']} x | {row['target']} | {met} |")
    runs = year["runs"]
    lines += [
        "",
        f"## The year: {plan['days']} days of {plan['runs_per_day']} runs ({plan['days'] * plan['runs_per_day']:,} "
        "small deltas)",
        "",
        f"Start: the fact tables of a full run at scale 1 ({', '.join(f'{k} {v:,}' for k, v in year['base_rows'].items())} "
        f"rows). Each run: 5 new sales orders, 2 purchase orders, 5 payments, 5 payments marked paid. Before: every "
        f"run's files in the run-folder layout ({plan['days'] * plan['runs_per_day']:,} runs, written as the old "
        f"format did). After: {runs['at_cadence']:,} runs committed one by one at the schedule's cadence (the first "
        f"{plan['first_days']} and the last {plan['last_days']} days), the {runs['in_steps']:,} runs between in "
        f"commits of {plan['step_days']} days, maintenance (compaction, snapshot expiry) once a simulated day; "
        f"{runs['commits']:,} MERGE commits per fact table in all.",
        "",
        "| day | side | fact data files | partitions | snapshots | metadata | named queries | small delta | load read |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    rows = [(c["day"], "after", c) for c in year["checkpoints"]] + [(c["day"], "before", c)
                                                                  for c in year["before_checkpoints"]]
    for day, side, figures in sorted(rows, key=lambda r: (r[0], r[1])):
        tables = figures["tables"].values()
        snapshots = sum(t.get("snapshots", 0) for t in tables) if side == "after" else "-"
        metadata = _fmt_bytes(_metadata_bytes(figures)) if side == "after" else "-"
        small = f"{figures['small_delta_seconds']:.2f} s" if side == "after" else "-"
        read = f"{sum(figures['load_read_seconds'].values()):.2f} s" if side == "after" else "-"
        lines.append(f"| {day} | {side} | {_files(figures):,} | {sum(t['partitions'] for t in tables):,} | "
                     f"{snapshots} | {metadata} | {_queries(figures):.3f} s | {small} | {read} |")
    lines += [
        "",
        "Named queries: the four of `sql/athena/`, each the median of 3 runs, summed; DuckDB over the Iceberg tables "
        "(`make query`) after, over one hive-partitioned glob per fact before. Small delta: after, at cadence the "
        "median over the day's runs of one run's three fact MERGEs (in parallel, as the transformation writes them), "
        "between the steps a run committed alone after the step's maintenance; load read: the load's changelog read "
        "of that run's commit of each fact (Spark, warm). Partitions: Iceberg's `partitions` metadata table after; "
        "the run-folder partitions the catalog registered before. Metadata: each fact table's `metadata/` folder "
        "(metadata files, manifest lists, manifests).",
    ]
    small = report.get("small_delta")
    if small:
        lines += [
            "",
            f"## A small delta through one workflow run, before ({report['before_iceberg_ref']}) and after",
            "",
            "Each side a world of its own at scale 1 (the same generated source, a full run first), then the same "
            "small changes, alternating before and after: a fresh process per run (as every Glue job run starts), "
            "and a warm JVM's second run (as `make schedule` runs). Best of the runs; all of them in the JSON.",
            "",
            "| side | fresh process | ingest | transform | load | warm JVM | ingest | transform | load |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for side in ("before", "after"):
            fresh, warm = small[side]["fresh_best"], small[side]["warm_best"]
            job = lambda run, name: next((f"{s:.1f} s" for j, s in run["jobs"].items() if name in j), "-")  # noqa: E731
            lines.append(f"| {side} | {fresh['seconds']:.1f} s | {job(fresh, 'ingest')} | "
                         f"{job(fresh, 'transform')} | {job(fresh, 'load')} | {warm['seconds']:.1f} s | "
                         f"{job(warm, 'ingest')} | {job(warm, 'transform')} | {job(warm, 'load')} |")
    lines += ["", "![files](charts/year_files.png)", "![queries](charts/year_queries.png)",
              "![small delta](charts/year_small_delta.png)", ""]
    return "\n".join(lines)


def write_report(report: dict, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    report = {**report, "targets": targets(report)}
    json_path = out / "year_of_runs.json"
    json_path.write_text(json.dumps(report, indent=1, default=str))
    md_path = out / "year_of_runs.md"
    md_path.write_text(markdown(report))
    return [json_path, md_path, *_charts(report, out)]
