"""The benchmark run: ``python -m bench.run --mode full|quick`` (``make bench`` / ``make bench-quick``).

Per scale, in one run and on one machine state: generate the source; full ingestion by the ingestion job and by
the three yardsticks side by side; the transformation; the load and its physical limit (:mod:`bench.load_limit`);
at the largest scale a 0.1% delta (time, rows the server read, query plans with and without the ``last_updated``
indexes); at every scale a small delta through one local workflow run, against the bare SparkSession start and
stop. Then the report (:mod:`bench.report`): JSON, Markdown and PNG charts in ``bench/results/``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench import baseline, jobs
from bench.env import RESULTS_DIR, SCRATCH_DIR, BenchEnv, ScaleWorld
from bench.measure import python_command, run_measured
from bench.progress import log
from bench.source_stats import (
    create_last_updated_indexes,
    delta_sizes,
    drop_last_updated_indexes,
    explain_window,
    index_sizes,
    rows_read_between,
    settle_stats,
    table_scan_counters,
)
from totes.manifests import list_manifests
from totes.settings import DEFAULT_READ_LAG_SECONDS, INGEST_JOB_NAME, REPO_DIR
from totes.source.database import connect as source_connect
from totes.source.generator import generate
from totes.source.simulator import simulate
from totes.warehouse.database import connect as warehouse_connect
from totes.zones import ZoneStore

MODES = {
    # scale 105 is the first to pass 5 million source rows (scale 100 makes 4.8 million).
    # The before-fixes pass is opt-in (--before-fixes): bench/baseline.py's files must still run beside today's.
    "full": {"scales": [1, 10, 105], "delta_fraction": 0.001, "bare_repeats": 3, "before_fixes": False},
    "quick": {"scales": [0.1, 1], "delta_fraction": 0.001, "bare_repeats": 1, "before_fixes": False},
}
SEED = 42
BIG_TABLES = ("sales_order", "purchase_order", "transaction", "payment")
# Per table of the load: where its time went (the "table loaded" event).
LOAD_TABLE_FIGURES = ("table", "rows", "seconds", "references", "read_seconds", "stage_seconds", "check_seconds",
                      "merge_seconds", "index_seconds", "validate_seconds")


class LoadSampler:
    """The machine's 1-minute load average every few seconds during the run: the report says what it was."""

    def __init__(self, interval: float = 5.0):
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            self.samples.append(os.getloadavg()[0])
            self._stop.wait(interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        values = self.samples or [os.getloadavg()[0]]
        return {"min": round(min(values), 2), "mean": round(sum(values) / len(values), 2),
                "max": round(max(values), 2), "samples": len(values)}


def wait_for_low_load(threshold: float, max_wait: float, poll: float) -> dict:
    started = time.monotonic()
    while True:
        load = os.getloadavg()[0]
        waited = time.monotonic() - started
        if load < threshold:
            return {"threshold": threshold, "waited_seconds": round(waited), "load_at_start": round(load, 2),
                    "ran_under_load": False}
        if waited >= max_wait:
            log(f"load {load:.2f} still above {threshold} after {waited:.0f}s: running anyway")
            return {"threshold": threshold, "waited_seconds": round(waited), "load_at_start": round(load, 2),
                    "ran_under_load": True}
        log(f"load average {load:.2f} >= {threshold}: waiting {poll:.0f}s ({waited:.0f}s so far)")
        time.sleep(poll)


# -- phases -------------------------------------------------------------------------------------------------------
def generate_source(world: ScaleWorld) -> dict:
    started = time.monotonic()
    with source_connect(world.owner) as conn:
        counts = generate(conn, scale=world.scale, seed=SEED)
    return {"seconds": round(time.monotonic() - started, 3), "rows": sum(counts.values()), "tables": counts}


def peer(world: ScaleWorld, name: str, *args: str) -> dict:
    measured = run_measured(python_command("bench.peers", name, "--out", str(world.root / "peers" / name), *args),
                            env=world.job_env(f"peer_{name}"), cwd=REPO_DIR,
                            log_path=world.path("logs", f"peer_{name}.stderr")).check()
    return {**measured.result, "process_seconds": measured.seconds, "peak_rss_bytes": measured.peak_rss_bytes}


def ingestion_side_by_side(world: ScaleWorld, baseline_root: Path | None) -> dict:
    results = {}
    log(f"scale {world.scale:g}: COPY limit")
    limit_runs = [peer(world, "copy-limit", "--streams", "1"), peer(world, "copy-limit", "--streams", "2")]
    results["copy_limit_runs"] = limit_runs
    results["copy_limit"] = min(limit_runs, key=lambda r: r["process_seconds"])
    log(f"scale {world.scale:g}: ingestion job (full)")
    before = table_scan_counters(world.owner)
    ours = jobs.ingest(world, "ingest_full")
    settle_stats()
    results["ours"] = {**ours.to_dict(), "rows": _ingested_rows(ours),
                       "tables": [{"table": e["table"], "rows": e["rows"], "seconds": e["seconds"]}
                                  for e in ours.events_named("table ingested")],
                       "server_reads": rows_read_between(before, table_scan_counters(world.owner))}
    if baseline_root is not None:
        # Before and after alternate, twice each into scratch zones; each side's faster run counts (the first
        # JVM of a run, or a neighbour's burst of work, would otherwise decide the comparison).
        runs = {"after": [ours], "before": []}
        for side, code_root, attempt in (("before", baseline_root, 0), ("after", REPO_DIR, 1),
                                         ("before", baseline_root, 1)):
            log(f"scale {world.scale:g}: ingestion job (full), {side} the fixes (run {attempt + 1} of 2)")
            zone = (world.root / f"zones_{side}_{attempt}" / "ingestion").as_uri()
            runs[side].append(jobs.ingest(world, f"ingest_full_{side}_fixes_{attempt}", code_root=code_root,
                                          zone=zone))
        best_before = min(runs["before"], key=lambda f: f.seconds)
        best_after = min(runs["after"], key=lambda f: f.seconds)
        results["ours_before_fixes"] = {**best_before.to_dict(), "rows": _ingested_rows(best_before),
                                        "all_seconds": [f.seconds for f in runs["before"]]}
        results["ours_after_fixes_best"] = {**best_after.to_dict(), "rows": _ingested_rows(best_after),
                                            "all_seconds": [f.seconds for f in runs["after"]]}
    log(f"scale {world.scale:g}: pandas-style Lambda script")
    results["pandas_lambda"] = peer(world, "pandas-lambda")
    log(f"scale {world.scale:g}: dlt")
    results["dlt"] = peer(world, "dlt")
    return results


def _ingested_rows(figures: jobs.JobRunFigures) -> int:
    return sum(e["rows"] for e in figures.events_named("table ingested"))


def _load_rows(figures: jobs.JobRunFigures) -> int:
    return sum(e["rows"] for e in figures.events_named("table loaded"))


def _fact_rows(figures: jobs.JobRunFigures) -> int:
    return sum(e["rows"] for e in figures.events_named("fact built"))


def transform_and_load(world: ScaleWorld, baseline_root: Path | None) -> dict:
    log(f"scale {world.scale:g}: transformation job (full)")
    transform = jobs.transform(world, "transform_full")
    transform_before = None
    if baseline_root is not None:
        log(f"scale {world.scale:g}: transformation job (full) before the fixes")
        transform_before = jobs.transform(world, "transform_full_before_fixes", code_root=baseline_root,
                                          processed_zone=(world.root / "zones_before_fixes" / "processed").as_uri(),
                                          catalog_database="bench_processed_before_fixes")
    log(f"scale {world.scale:g}: load job (full)")
    load = jobs.load(world, "load_full")
    log(f"scale {world.scale:g}: the load's limit (COPY into unconstrained tables, then keys and references)")
    limit = run_measured(python_command("bench.load_limit", "--processed-zone", world.processed_zone,
                                        "--dbname", world.warehouse_copy.dbname),
                         env=world.job_env("load_limit"), cwd=REPO_DIR,
                         log_path=world.path("logs", "load_limit.stderr")).check()
    return {
        "transform": {**transform.to_dict(), "fact_rows": _fact_rows(transform),
                      "input_rows": _ingested_rows_from_manifests(world)},
        "load": {**load.to_dict(), "rows": _load_rows(load),
                 "tables": [{key: e.get(key) for key in LOAD_TABLE_FIGURES}
                            for e in load.events_named("table loaded")]},
        "load_limit": {**limit.result, "process_seconds": limit.seconds, "peak_rss_bytes": limit.peak_rss_bytes},
        **({"transform_before_fixes": {**transform_before.to_dict(), "fact_rows": _fact_rows(transform_before)}}
           if transform_before else {}),
    }


def _ingested_rows_from_manifests(world: ScaleWorld) -> int:
    zone = ZoneStore.for_uri(world.ingestion_zone)
    return sum(output.rows for manifest in list_manifests(zone, INGEST_JOB_NAME)
               for output in manifest.tables.values())


def _window_of_last_ingest(world: ScaleWorld, table: str) -> dict:
    manifest = list_manifests(ZoneStore.for_uri(world.ingestion_zone), INGEST_JOB_NAME)[-1]
    return manifest.tables[table].window


def delta_cost(world: ScaleWorld, fraction: float, full_ingest: dict, full_transform: dict,
               full_load: dict, source_rows: int) -> dict:
    """A delta changing ``fraction`` of the source rows: ingestion time and rows read against the full run."""
    log(f"scale {world.scale:g}: empty delta (fixed cost of a run with nothing to read)")
    before = table_scan_counters(world.owner)
    empty = jobs.ingest(world, "ingest_empty_delta", "--read-lag-seconds", "0")
    settle_stats()
    empty_reads = rows_read_between(before, table_scan_counters(world.owner))
    sizes = delta_sizes(source_rows, fraction)
    with source_connect(world.owner) as conn:
        done = simulate(conn, seed=7, **sizes)
    changed = sum(done["inserted"].values()) + sum(done["updated"].values())
    log(f"scale {world.scale:g}: {fraction:.1%} delta ({changed} rows changed)")
    before = table_scan_counters(world.owner)
    delta = jobs.ingest(world, "ingest_delta", "--read-lag-seconds", "0")
    settle_stats()
    reads = rows_read_between(before, table_scan_counters(world.owner))
    plans = {table: explain_window(world.owner, table, _window_of_last_ingest(world, table))
             for table in BIG_TABLES}
    log(f"scale {world.scale:g}: the same delta windows without the last_updated indexes")
    drop_last_updated_indexes(world.owner)
    plans_without_index = {table: explain_window(world.owner, table, _window_of_last_ingest(world, table))
                           for table in BIG_TABLES}
    index_build_seconds = create_last_updated_indexes(world.owner)
    log(f"scale {world.scale:g}: transformation and load of the delta")
    transform = jobs.transform(world, "transform_delta")
    load = jobs.load(world, "load_delta")
    rows_read = sum(t["seq_tup_read"] + t["idx_tup_fetch"] for t in reads.values())
    full_rows_read = sum(t["seq_tup_read"] + t["idx_tup_fetch"] for t in full_ingest["server_reads"].values())
    return {
        "fraction": fraction, "simulated": sizes, "changed_rows": changed,
        "ingest": {**delta.to_dict(), "rows_written": _ingested_rows(delta), "server_reads": reads,
                   "rows_read": rows_read},
        "empty_ingest": {**empty.to_dict(), "server_reads": empty_reads,
                         "rows_read": sum(t["seq_tup_read"] + t["idx_tup_fetch"] for t in empty_reads.values())},
        "full_ingest_rows_read": full_rows_read,
        "transform": {**transform.to_dict(), "fact_rows": _fact_rows(transform),
                      "dimension_rows": sum(e["rows"] for e in transform.events_named("dimension built"))},
        "load": {**load.to_dict(), "rows": _load_rows(load)},
        "ratios": {
            "ingest_seconds": round(delta.seconds / full_ingest["seconds"], 4),
            "ingest_work_seconds": round(delta.work_seconds / full_ingest["work_seconds"], 4),
            "ingest_marginal_seconds": round(max(delta.seconds - empty.seconds, 0.0)
                                             / max(full_ingest["seconds"] - empty.seconds, 1e-9), 4),
            "rows_read": round(rows_read / max(full_rows_read, 1), 5),
            "workflow_seconds": round((delta.seconds + transform.seconds + load.seconds)
                                      / (full_ingest["seconds"] + full_transform["seconds"] + full_load["seconds"]), 4),
        },
        "plans_with_index": plans,
        "plans_without_index": plans_without_index,
        "index_build_seconds": index_build_seconds,
        "index_bytes": index_sizes(world.owner),
    }


def _reconciliation_seconds(figures: jobs.JobRunFigures) -> float | None:
    started, done = figures.events_named("reconciliation started"), figures.events_named("reconciliation committed")
    if not started or not done:
        return None
    return round((jobs._timestamp(done[0]) - jobs._timestamp(started[0])).total_seconds(), 3)


def reconciliation(world: ScaleWorld, source_rows: int) -> dict:
    """The daily reconciliation: quiet edits and deletes found, first from the zone's history, then from the
    snapshot the first one left (the steady state), then carried to the warehouse."""
    with source_connect(world.owner) as conn:
        edited = conn.execute("UPDATE sales_order SET units_sold = units_sold + 1 "
                              "WHERE sales_order_id % 10000 = 0").rowcount
        deleted = conn.execute("DELETE FROM payment WHERE payment_id IN "
                               "(SELECT payment_id FROM payment ORDER BY payment_id DESC LIMIT 10)").rowcount
    log(f"scale {world.scale:g}: reconciliation after {edited} quiet edits and {deleted} deletes "
        "(ingested state from every manifest)")
    first = jobs.ingest(world, "reconcile_first", "--read-lag-seconds", "0", "--reconcile", "now")
    log(f"scale {world.scale:g}: reconciliation again (ingested state from the snapshot; nothing to find)")
    steady = jobs.ingest(world, "reconcile_steady", "--read-lag-seconds", "0", "--reconcile", "now")
    transform = jobs.transform(world, "transform_reconciled")
    load = jobs.load(world, "load_reconciled")

    def figures(run: jobs.JobRunFigures) -> dict:
        tables = run.events_named("table reconciled")
        return {**run.to_dict(), "reconcile_seconds": _reconciliation_seconds(run),
                "compared": sum(t["compared"] for t in tables), "changed": sum(t["changed"] for t in tables),
                "missing": sum(t["missing"] for t in tables), "deleted": sum(t["deleted"] for t in tables),
                "per_table_seconds": {t["table"]: t["seconds"] for t in tables}}

    return {"source_rows": source_rows, "edited": edited, "deleted": deleted, "first": figures(first),
            "steady": figures(steady), "transform": transform.to_dict(), "load": load.to_dict()}


def bare_spark(repeats: int) -> dict:
    runs = []
    for _ in range(repeats):
        env = dict(os.environ)
        env.update({"PYTHONPATH": f"{REPO_DIR}:{REPO_DIR / 'local_glue'}", "SPARK_LOCAL_IP": "127.0.0.1", "TZ": "UTC"})
        measured = run_measured(python_command("bench.workflow_run", "--bare"), env=env, cwd=REPO_DIR).check()
        runs.append({**measured.result, "process_seconds": measured.seconds, "peak_rss_bytes": measured.peak_rss_bytes})
    runs.sort(key=lambda r: r["seconds"])
    return {"median": runs[len(runs) // 2], "runs": runs}


def small_delta_workflow(world: ScaleWorld, bare: dict, code_root: Path = REPO_DIR, label: str = "",
                         seed: int = 11) -> dict:
    """A change in the source, one workflow run as soon as the change can be read, and when it is in the
    warehouse.

    The workflow reads up to the database clock minus the read lag (README, "The bookmark guarantee"), so a run
    started sooner would not see the change: the run starts ``DEFAULT_READ_LAG_SECONDS`` after the commit, and
    "change → visible" includes that wait.
    """
    log(f"scale {world.scale:g}: small delta through one local workflow run{' ' + label if label else ''}")
    with source_connect(world.owner) as conn:
        done = simulate(conn, seed=seed, new_sales_orders=5, new_purchase_orders=2, payments_to_mark_paid=5)
    changed_at = time.time()
    time.sleep(DEFAULT_READ_LAG_SECONDS + 0.1)
    sales_ids = done["inserted_ids"]["sales_order"]
    name = "workflow_small_delta" + (f"_{label.replace(' ', '_')}" if label else "")
    measured = run_measured(
        python_command("bench.workflow_run", "--state-dir", str(world.root / "state"),
                       "--ingestion-zone", world.ingestion_zone, "--processed-zone", world.processed_zone),
        env=world.job_env(name, code_root), cwd=code_root, log_path=world.path("logs", f"{name}.stderr")).check()
    with warehouse_connect(world.warehouse) as conn:
        visible = conn.execute("SELECT count(DISTINCT sales_order_id) FROM fact_sales_order "
                               "WHERE sales_order_id = ANY(%s)", (sales_ids,)).fetchone()[0]
    visible_at = time.time()
    run = measured.result
    bare_median = bare["median"]
    return {
        "changed_rows": sum(done["inserted"].values()) + sum(done["updated"].values()),
        "bare_spark": bare_median,
        "run": run, "process_seconds": measured.seconds, "peak_rss_bytes": measured.peak_rss_bytes,
        "change_visible": visible == len(sales_ids),
        "change_to_visible_seconds": round(visible_at - changed_at, 3),
        "read_lag_seconds": DEFAULT_READ_LAG_SECONDS,
        "multiple_of_bare_in_process": round(run["seconds"] / bare_median["seconds"], 2),
        "multiple_of_bare_process": round(measured.seconds / bare_median["process_seconds"], 2),
    }


def warm_small_delta_workflow(world: ScaleWorld, fresh: dict, seed: int = 21) -> dict:
    """The same small delta through a workflow run in a warm JVM (the second run of ``make schedule``), in a
    process of its own that warms up on a change of its own first (see bench.workflow_run)."""
    log(f"scale {world.scale:g}: small delta through a workflow run in a warm JVM")
    measured = run_measured(
        python_command("bench.workflow_run", "--state-dir", str(world.root / "state"),
                       "--ingestion-zone", world.ingestion_zone, "--processed-zone", world.processed_zone,
                       "--warm-seed", str(seed)),
        env=world.job_env("workflow_small_delta_warm"), cwd=REPO_DIR,
        log_path=world.path("logs", "workflow_small_delta_warm.stderr")).check()
    warm = measured.result
    return {**warm, "multiple_of_bare_in_process": round(warm["seconds"] / fresh["bare_spark"]["seconds"], 2),
            "multiple_of_warm_bare": round(warm["seconds"] / warm["bare"]["seconds"], 2),
            "fresh_minus_warm_seconds": round(fresh["run"]["seconds"] - warm["seconds"], 3)}


# -- the run -------------------------------------------------------------------------------------------------------
def machine() -> dict:
    def version(command: list[str]) -> str:
        try:
            output = subprocess.run(command, capture_output=True, text=True, timeout=30)
            return (output.stdout or output.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "unknown"

    import psutil
    import pyspark

    return {"cores": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "spark": pyspark.__version__,
            "java": version(["java", "-version"]),
            "postgresql": version(["/usr/lib/postgresql/15/bin/postgres", "--version"]),
            "driver_memory": os.environ.get("TOTES_SPARK_DRIVER_MEMORY", "4g")}


def terraform_capacity() -> dict:
    text = (REPO_DIR / "terraform" / "variables.tf").read_text()

    def default(name: str) -> str | None:
        match = re.search(rf'variable "{name}" \{{.*?default\s*=\s*"?([^"\n]+)"?', text, re.S)
        return match.group(1).strip() if match else None

    return {"worker_type": default("glue_worker_type") or "G.1X",
            "number_of_workers": int(default("glue_number_of_workers") or 2)}


def run(mode: str, out: Path, wait: dict | None, keep: bool, **overrides) -> dict:
    settings = {**MODES[mode], **{key: value for key, value in overrides.items() if value is not None}}
    started_at = dt.datetime.now(dt.timezone.utc)
    env = BenchEnv(SCRATCH_DIR / mode)
    report: dict = {"mode": mode, "started_at": started_at.isoformat(timespec="seconds"), "machine": machine(),
                    "load_wait": wait, "terraform_capacity": terraform_capacity(), "scales": {}}
    baseline_root = baseline.prepare() if settings["before_fixes"] else None
    report["before_fixes"] = {"files": list(baseline.FIXED_FILES), "ref": baseline.BEFORE_FIXES_REF,
                              "ran": baseline_root is not None}
    with LoadSampler() as sampler:
        report["bare_spark"] = bare_spark(settings["bare_repeats"])
        try:
            for scale in settings["scales"]:
                world = env.world(scale)
                entry: dict = {"scale": scale}
                try:
                    log(f"scale {scale:g}: generating the source")
                    entry["source"] = generate_source(world)
                    entry["ingestion"] = ingestion_side_by_side(world, baseline_root)
                    entry.update(transform_and_load(world, baseline_root))
                    if scale == settings["scales"][-1]:
                        entry["delta"] = delta_cost(world, settings["delta_fraction"],
                                                    entry["ingestion"]["ours"], entry["transform"],
                                                    entry["load"], entry["source"]["rows"])
                        entry["reconciliation"] = reconciliation(world, entry["source"]["rows"])
                    # The bare start-up measured next to the run it is compared with: both see the same machine.
                    bare = bare_spark(settings["bare_repeats"])
                    entry["small_delta_workflow"] = small_delta_workflow(world, bare)
                    entry["small_delta_workflow"]["warm"] = warm_small_delta_workflow(world,
                                                                                      entry["small_delta_workflow"])
                    if baseline_root is not None:
                        # Alternating, twice each; each side's faster run counts (see the ingestion above).
                        before_runs = [small_delta_workflow(world, bare, baseline_root, "before fixes", seed=12)]
                        after_runs = [entry["small_delta_workflow"],
                                      small_delta_workflow(world, bare, REPO_DIR, "after fixes", seed=13)]
                        before_runs.append(small_delta_workflow(world, bare, baseline_root, "before fixes", seed=14))
                        entry["small_delta_workflow"] = min(after_runs, key=lambda r: r["run"]["seconds"])
                        entry["small_delta_workflow"]["all_seconds"] = [r["run"]["seconds"] for r in after_runs]
                        entry["small_delta_workflow_before_fixes"] = min(before_runs, key=lambda r: r["run"]["seconds"])
                        entry["small_delta_workflow_before_fixes"]["all_seconds"] = [r["run"]["seconds"]
                                                                                     for r in before_runs]
                    entry["load_average"] = round(os.getloadavg()[0], 2)
                finally:
                    env.drop(world, keep_files=keep)
                report["scales"][f"{scale:g}"] = entry
                (out / "tmp").mkdir(parents=True, exist_ok=True)
                (out / "tmp" / f"partial_{mode}.json").write_text(json.dumps(report, indent=1, default=str))
        finally:
            env.drop_all()
    report["load_average"] = sampler.summary()
    report["finished_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    report["seconds"] = round((dt.datetime.now(dt.timezone.utc) - started_at).total_seconds(), 1)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=sorted(MODES), default=os.environ.get("BENCH_MODE", "full"))
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--wait-load-below", type=float, default=None,
                        help="wait until the 1-minute load average is below this before starting")
    parser.add_argument("--wait-max-seconds", type=float, default=1200)
    parser.add_argument("--keep", action="store_true", help="keep the scratch zones (bench/results/tmp)")
    parser.add_argument("--report-only", type=Path, help="re-render the report of an earlier JSON")
    parser.add_argument("--scales", type=lambda text: [float(v) for v in text.split(",")],
                        help="override the mode's scales, e.g. 0.1,1 (the last gets the delta benchmark)")
    parser.add_argument("--before-fixes", action=argparse.BooleanOptionalAction, default=None,
                        help="also run the pipeline as it was before the fixes (bench/baseline.py; default no)")
    args = parser.parse_args(argv)
    from bench.report import write_report

    if args.report_only:
        report = json.loads(args.report_only.read_text())
    else:
        wait = None
        if args.wait_load_below is not None:
            wait = wait_for_low_load(args.wait_load_below, args.wait_max_seconds, 30.0)
        report = run(args.mode, args.out, wait, args.keep, scales=args.scales, before_fixes=args.before_fixes)
    paths = write_report(report, args.out)
    for path in paths:
        log(f"wrote {path.relative_to(REPO_DIR) if path.is_relative_to(REPO_DIR) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
