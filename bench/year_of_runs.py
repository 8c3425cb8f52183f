"""A year of the 15-minute schedule, simulated: how the processed zone's fact tables age, before and after Iceberg.

``python -m bench.year_of_runs --mode full|quick`` (``make bench-year``; ``make bench`` runs it after
:mod:`bench.run`). Two parts, each in one run on one machine state:

1. **A small delta through one workflow run, before and after**: the pipeline as it was before the processed zone
   became Iceberg tables (the whole code tree at :data:`BEFORE_ICEBERG_REF`, as ``git archive`` gives it) and as
   it is, each on a world of its own at scale 1 (source generated with the same seed, a full workflow run first),
   then the same small changes through fresh-process and warm-JVM workflow runs, alternating before and after.
2. **The year** (:mod:`bench.year_simulation`): from the fact tables of the "after" world's full run, a year of
   small deltas committed the way each design commits them, with the named Athena queries timed as they
   accumulate.

The report: ``bench/results/year_of_runs.json``, ``year_of_runs.md`` and charts (:mod:`bench.year_report`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.env import RESULTS_DIR, SCRATCH_DIR, BenchEnv, ScaleWorld
from bench.measure import python_command, run_measured
from bench.progress import log
from bench.run import SEED, LoadSampler, bare_spark, generate_source, machine, small_delta_workflow
from bench.year_simulation import YearPlan, simulate_year
from totes.settings import REPO_DIR

# main before the Iceberg processed zone was merged (the hand-made run-folder format, its load and catalog).
BEFORE_ICEBERG_REF = "dec4626"
# What a workflow run of that tree needs; the jars are the working tree's (TOTES_JARS_DIR).
BEFORE_TREE_PATHS = ("totes", "glue_jobs", "local_glue", "sql", "workflow", "bench", "jvm-dependencies.txt")

MODES = {
    "full": {"plan": YearPlan(first_days=1, last_days=6, step_days=30), "repeats": 2},
    # A smoke check: a month at an hourly cadence, the same phases.
    "quick": {"plan": YearPlan(days=30, runs_per_day=24, first_days=1, last_days=6, step_days=10), "repeats": 1},
    # The test of the bench itself: a few days of a few runs, no before/after workflow runs.
    "smoke": {"plan": YearPlan(days=4, runs_per_day=3, first_days=1, last_days=1, step_days=1), "repeats": 0},
}


def before_iceberg_tree(root: Path) -> Path | None:
    """The code tree at BEFORE_ICEBERG_REF; None when the ref is not in this repository (a shallow clone)."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", "--format=tar", BEFORE_ICEBERG_REF, *BEFORE_TREE_PATHS],
                             cwd=REPO_DIR, capture_output=True)
    if archive.returncode != 0:
        return None
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, check=True)
    return root


def warm_small_delta(world: ScaleWorld, code_root: Path, label: str, seed: int) -> dict:
    """A small delta through a warm JVM's second workflow run (bench.workflow_run --warm-seed) of ``code_root``."""
    log(f"year: small delta in a warm JVM, {label} (seed {seed})")
    name = f"warm_small_delta_{label}_{seed}"
    measured = run_measured(
        python_command("bench.workflow_run", "--state-dir", str(world.root / "state"),
                       "--ingestion-zone", world.ingestion_zone, "--processed-zone", world.processed_zone,
                       "--warm-seed", str(seed)),
        env=world.job_env(name, code_root), cwd=code_root,
        log_path=world.path("logs", f"{name}.stderr")).check()
    return measured.result


def _job_seconds(run: dict) -> dict[str, float]:
    return {job["job"]: job["seconds"] for job in run["jobs"]}


def small_delta_before_after(env: BenchEnv, before_root: Path, repeats: int) -> tuple[dict, ScaleWorld]:
    """Part 1; returns the figures and the "after" world, whose processed zone the year starts from."""
    worlds = {"before": (env.world(1, label="year_before"), before_root),
              "after": (env.world(1, label="year_after"), REPO_DIR)}
    bare = bare_spark(1)
    figures: dict = {"before": {"fresh": [], "warm": []}, "after": {"fresh": [], "warm": []}}
    for side, (world, code_root) in worlds.items():
        log(f"year: scale 1 source and a full workflow run, {side}")
        figures[side]["source"] = generate_source(world)
        full = small_delta_workflow(world, bare, code_root, f"{side} full", seed=SEED)
        figures[side]["full_run_seconds"] = full["run"]["seconds"]
    for repeat in range(repeats):
        for side, (world, code_root) in worlds.items():
            fresh = small_delta_workflow(world, bare, code_root, side, seed=100 + repeat)
            figures[side]["fresh"].append({"seconds": fresh["run"]["seconds"], "jobs": _job_seconds(fresh["run"]),
                                           "change_visible": fresh["change_visible"],
                                           "changed_rows": fresh["changed_rows"]})
        for side, (world, code_root) in worlds.items():
            warm = warm_small_delta(world, code_root, side, seed=200 + 10 * repeat)
            figures[side]["warm"].append({"seconds": warm["seconds"], "jobs": _job_seconds(warm),
                                          "change_visible": warm["change_visible"],
                                          "changed_rows": warm["changed_rows"]})
    for side in figures:
        for kind in ("fresh", "warm"):
            runs = figures[side][kind]
            figures[side][f"{kind}_best"] = min(runs, key=lambda run: run["seconds"])
    env.drop(worlds["before"][0])
    figures["bare_spark"] = bare["median"]
    return figures, worlds["after"][0]


PARTS = ("small-delta", "year")


def _full_run_world(env: BenchEnv) -> ScaleWorld:
    world = env.world(1, label="year_after")
    generate_source(world)
    small_delta_workflow(world, bare_spark(1), REPO_DIR, "after full", seed=SEED)
    return world


def run(mode: str, out: Path, keep: bool, parts: tuple[str, ...] = PARTS) -> dict:
    """The parts asked for; a part not run keeps its figures from the last report of the mode, if any."""
    settings = MODES[mode]
    # Both code trees run with the working tree's fetched jars (the old tree has no .local/ of its own).
    os.environ.setdefault("TOTES_JARS_DIR", str(REPO_DIR / ".local" / "jars"))
    env = BenchEnv(SCRATCH_DIR / f"year_{mode}")
    partial = out / "tmp" / f"year_of_runs_{mode}.json"
    # The other part's figures: from this mode's last partial run, or else from its published report (a fresh
    # clone has only that).
    previous = partial if partial.exists() else out / "year_of_runs.json"
    report: dict = json.loads(previous.read_text()) if previous.exists() and set(parts) != set(PARTS) else {}
    report.update({"mode": mode, "started_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
                   "machine": machine(), "before_iceberg_ref": BEFORE_ICEBERG_REF})
    started = time.monotonic()
    with LoadSampler() as sampler:
        try:
            world = None
            if "small-delta" in parts and settings["repeats"]:
                before_root = before_iceberg_tree(env.scratch / "before_iceberg")
                if before_root is None:
                    log(f"year: {BEFORE_ICEBERG_REF} is not in this clone: no before/after small delta")
                else:
                    report["small_delta"], world = small_delta_before_after(env, before_root, settings["repeats"])
                    report["small_delta"]["load_average"] = round(os.getloadavg()[0], 2)
            if "year" in parts:
                report["year"] = simulate_year(world or _full_run_world(env), settings["plan"],
                                               env.scratch / "year_zones")
                report["year"]["load_average"] = round(os.getloadavg()[0], 2)
        finally:
            if not keep:
                env.drop_all()
                shutil.rmtree(env.scratch / "year_zones", ignore_errors=True)
    report.setdefault("parts", {})
    for part in parts:
        report["parts"][part] = {"load_average": sampler.summary(), "seconds": round(time.monotonic() - started, 1),
                                 "started_at": report["started_at"]}
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_text(json.dumps(report, indent=1, default=str))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.year_of_runs", description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=sorted(MODES), default=os.environ.get("BENCH_MODE", "full"))
    parser.add_argument("--out", type=Path, default=None,
                        help="where the report goes (default bench/results/, quick mode bench/results/tmp/quick/)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases and zones")
    parser.add_argument("--part", choices=[*PARTS, "all"], default="all",
                        help="run one part only; the other keeps its figures from the mode's last report")
    parser.add_argument("--report-only", type=Path, help="re-render the report of an earlier JSON")
    args = parser.parse_args(argv)
    from bench.year_report import write_report

    out = args.out or (RESULTS_DIR if args.mode == "full" else RESULTS_DIR / "tmp" / args.mode)
    report = json.loads(args.report_only.read_text()) if args.report_only else run(args.mode, out, args.keep,
                                                                               PARTS if args.part == "all" else (args.part,))
    for path in write_report(report, out):
        log(f"wrote {path.relative_to(REPO_DIR) if path.is_relative_to(REPO_DIR) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
