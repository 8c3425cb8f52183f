"""The dashboard in a real browser: Streamlit serving the app against a throwaway warehouse, headless Chromium
(Debian's package) driven by Playwright.

Figures are read from the page (the ``st-key-figure-*`` containers) and compared with SQL written
independently over the warehouse; new rows must appear without a restart, and an empty, incomplete or
unreachable warehouse must be explained on the page, never with a stack trace, and the page must recover by
itself. Screenshots go to ``test-artifacts/dashboard/``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest

from tests.dashboard.conftest import BALANCES_TRUTH, REVENUE_TRUTH, SPEND_TRUTH
from tests.dashboard.warehouse_rows import EXPECTED_REVENUE, EXPECTED_REVENUE_AFTER_NEW_LOAD, EXPECTED_SPEND
from totes.settings import REPO_DIR

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
# Chromium as root, headless, on a machine with a closed network (see .library/env/machines/python.md).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO_DIR / "test-artifacts" / "dashboard"
REFRESH_SECONDS = 2
WAIT_MS = 20_000  # a few refresh intervals, with room for a slow CI machine
UTC = dt.timezone.utc


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class DashboardServer:
    """``python -m totes.dashboard`` as a child process on a free port, with a short refresh interval."""

    def __init__(self, secrets_dir: Path, job_runs: Path, log_path: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        env = {
            **os.environ,
            "TOTES_LOCAL_SECRETS_DIR": str(secrets_dir),
            "PYTHONPATH": os.pathsep.join([str(REPO_DIR), str(REPO_DIR / "local_glue")]),
        }
        self.log_path = log_path
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "totes.dashboard",
                "--port",
                str(self.port),
                "--refresh-seconds",
                str(REFRESH_SECONDS),
                "--job-runs",
                str(job_runs),
            ],
            cwd=REPO_DIR,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_until_serving(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the dashboard exited ({self.process.returncode}):\n{self.log_path.read_text()}"
                )
            try:
                with urllib.request.urlopen(self.url + "_stcore/health", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"the dashboard did not serve within {timeout} s:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self._log.close()


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make test` installs it (scripts/system_packages.sh)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def serve(tmp_path):
    """Start the dashboard for a warehouse (its reader's secret folder); stopped after the test."""
    servers = []

    def start(warehouse, job_runs: Path) -> DashboardServer:
        server = DashboardServer(warehouse.secrets_dir, job_runs, tmp_path / f"dashboard-{len(servers)}.log")
        servers.append(server)
        server.wait_until_serving()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1400, "height": 2000})
    page = context.new_page()
    yield page
    context.close()


def _write_job_runs(path: Path, *runs: dict) -> None:
    with path.open("a") as handle:
        for run in runs:
            handle.write(json.dumps(run) + "\n")


def _run(run_id: str, job: str, state: str, ended_minutes_ago: float, seconds: float = 6.0, **extra) -> dict:
    completed = dt.datetime.now(UTC) - dt.timedelta(minutes=ended_minutes_ago)
    started = completed - dt.timedelta(seconds=seconds)
    return {
        "Id": run_id,
        "JobName": job,
        "Attempt": 0,
        "StartedOn": started.isoformat(timespec="milliseconds"),
        "CompletedOn": completed.isoformat(timespec="milliseconds"),
        "JobRunState": state,
        "ExecutionTime": seconds,
        "TriggerName": "every-15-minutes",
        **extra,
    }


def _quality_report(new_rows: int, held: int) -> dict:
    """A transformation run's quality report as the runner records it (``Quality``)."""
    from totes.transform.quality_report import RuleGroup, table_quality

    report = table_quality(("missing_parent",), [
        RuleGroup(None, None, new_rows - held),
        RuleGroup("missing_parent", None, held, ("sales_order_id 3: design_id 9 has no design row",))])
    return {"fact_sales_order": report.as_dict()}


def _figure(page, key: str):
    return page.locator(f".st-key-figure-{key} [data-testid='stMetricValue']")


def _money(text: str, currency_code: str) -> Decimal:
    amount, code = text.strip().rsplit(" ", 1)
    assert code == currency_code, text
    return Decimal(amount.replace(",", ""))


def _open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def _screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(500)  # let Vega finish drawing the charts
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _assert_no_stack_trace(page, *secrets: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator("[data-testid='stException']")).to_have_count(0)
    content = page.content()
    assert "Traceback" not in content
    for secret in secrets:
        assert secret not in content


def _assert_figures_equal_the_sql_truth(page, warehouse) -> None:
    from playwright.sync_api import expect

    _open_tab(page, "Sales")
    for code, revenue in warehouse.sql(REVENUE_TRUTH):
        expect(_figure(page, f"revenue-{code.lower()}")).to_be_visible()
        assert _money(_figure(page, f"revenue-{code.lower()}").inner_text(), code) == revenue, code
    (orders,) = warehouse.sql("SELECT COUNT(DISTINCT sales_order_id) FROM fact_sales_order")[0]
    assert _figure(page, "sales-orders").inner_text() == f"{orders:,}"
    _open_tab(page, "Purchases")
    for code, spend in warehouse.sql(SPEND_TRUTH):
        assert _money(_figure(page, f"spend-{code.lower()}").inner_text(), code) == spend, code
    _open_tab(page, "Payments")
    for code, direction, unpaid, overdue in warehouse.sql(BALANCES_TRUTH):
        suffix = f"{direction}-{code.lower()}"
        assert _money(_figure(page, f"unpaid-{suffix}").inner_text(), code) == (unpaid or 0), suffix
        assert _money(_figure(page, f"overdue-{suffix}").inner_text(), code) == (overdue or 0), suffix


def test_page_figures_equal_the_sql_truth_and_follow_new_loads_without_a_restart(
    known_warehouse, serve, page, tmp_path
):
    from playwright.sync_api import expect

    job_runs = tmp_path / "job_runs.jsonl"
    _write_job_runs(
        job_runs,
        _run(
            "jr_load_earlier",
            "totesys-load",
            "SUCCEEDED",
            40,
            RowsOut={"fact_sales_order": 5, "fact_purchase_order": 2, "fact_payment": 6, "dim_date": 450},
        ),
        _run("jr_load_last_good", "totesys-load", "SUCCEEDED", 25, RowsOut={"fact_sales_order": 0}),
        _run(
            "jr_transform_broken",
            "totesys-transform",
            "FAILED",
            10,
            ErrorMessage="BatchInputError: manifest 20261125T171503123Z-1a2b3c4d lists a missing file",
        ),
    )
    server = serve(known_warehouse, job_runs)

    page.goto(server.url)
    expect(_figure(page, "revenue-gbp")).to_have_text("362.50 GBP", timeout=WAIT_MS)
    assert {
        code: _money(_figure(page, f"revenue-{code.lower()}").inner_text(), code) for code in EXPECTED_REVENUE
    } == EXPECTED_REVENUE
    _assert_figures_equal_the_sql_truth(page, known_warehouse)
    assert {
        code: _money(_figure(page, f"spend-{code.lower()}").inner_text(), code) for code in EXPECTED_SPEND
    } == EXPECTED_SPEND
    for tab, name in (("Sales", "01-sales"), ("Purchases", "02-purchases"), ("Payments", "03-payments")):
        _open_tab(page, tab)
        _screenshot(page, name)
    _open_tab(page, "Pipeline health")
    expect(page.locator(".st-key-freshness-details")).to_contain_text("totesys-load run: jr_load_last_good")
    expect(_figure(page, "last-load-age")).to_have_text(
        re.compile(r"^2[56] min ago$")
    )  # minutes, rounded down
    expect(page.locator(".st-key-failures")).to_contain_text("The latest run of totesys-transform FAILED")
    expect(page.locator(".st-key-failures")).to_contain_text("lists a missing file")
    expect(page.locator(".st-key-quality-totesys-transform")).to_contain_text(
        "no totesys-transform run with a quality report recorded yet")
    _screenshot(page, "04-pipeline-health")

    # A load commits while the page is open: new rows in the warehouse, a new run in the log.
    known_warehouse.load_new_rows()
    _write_job_runs(
        job_runs,
        _run("jr_transform_fixed", "totesys-transform", "SUCCEEDED", 0.1, Quality=_quality_report(new_rows=40, held=1)),
        _run("jr_load_new", "totesys-load", "SUCCEEDED", 0.05,
             RowsOut={"fact_sales_order": 1, "fact_payment": 2}),
    )

    expect(page.locator(".st-key-freshness-details")).to_contain_text("jr_load_new", timeout=WAIT_MS)
    expect(page.locator(".st-key-failures")).to_have_text("No job's latest run failed.")
    expect(_figure(page, "quarantine-share-totesys-transform")).to_have_text("2.5%")
    expect(page.locator(".st-key-quality-totesys-transform")).to_contain_text(
        "1 of 40 new rows quarantined in run jr_transform_fixed")
    _open_tab(page, "Sales")
    expect(_figure(page, "revenue-gbp")).to_have_text("462.40 GBP", timeout=WAIT_MS)
    assert {
        code: _money(_figure(page, f"revenue-{code.lower()}").inner_text(), code)
        for code in EXPECTED_REVENUE_AFTER_NEW_LOAD
    } == EXPECTED_REVENUE_AFTER_NEW_LOAD
    _open_tab(page, "Payments")
    expect(_figure(page, "unpaid-receivable-usd")).to_have_text("0.00 USD", timeout=WAIT_MS)  # payment 2 paid
    _assert_figures_equal_the_sql_truth(page, known_warehouse)
    _open_tab(page, "Sales")
    _screenshot(page, "05-after-a-new-load")
    _assert_no_stack_trace(page, known_warehouse.reader.password)


def test_page_explains_an_empty_incomplete_or_unreachable_warehouse_and_recovers(
    dashboard_warehouse, serve, page, tmp_path
):
    from playwright.sync_api import expect

    server = serve(dashboard_warehouse, tmp_path / "no-runs-yet.jsonl")
    status = page.locator(".st-key-warehouse-status")

    page.goto(server.url)
    expect(status).to_contain_text("The warehouse is empty", timeout=WAIT_MS)
    _open_tab(page, "Pipeline health")
    expect(_figure(page, "last-load-age")).to_have_text("never")
    _screenshot(page, "06-empty-warehouse")

    dashboard_warehouse.load_known_rows()
    _open_tab(page, "Sales")
    expect(_figure(page, "revenue-gbp")).to_have_text("362.50 GBP", timeout=WAIT_MS)
    expect(status).to_contain_text("Warehouse answered: 4 sales orders")

    dashboard_warehouse.rename_table("fact_payment", "fact_payment_moved")
    expect(status).to_contain_text("lacks the table fact_payment.", timeout=WAIT_MS)
    expect(_figure(page, "revenue-gbp")).to_have_count(0)
    _assert_no_stack_trace(page)
    _screenshot(page, "07-table-missing")
    dashboard_warehouse.rename_table("fact_payment_moved", "fact_payment")
    expect(_figure(page, "revenue-gbp")).to_have_text("362.50 GBP", timeout=WAIT_MS)
    expect(status).to_contain_text("Warehouse answered: 4 sales orders")

    dashboard_warehouse.write_reader_secret(port=_free_port())  # nothing listens there
    expect(status).to_contain_text("The warehouse is unreachable", timeout=WAIT_MS)
    expect(_figure(page, "revenue-gbp")).to_have_count(0)
    _assert_no_stack_trace(page, dashboard_warehouse.reader.password)
    _screenshot(page, "08-warehouse-unreachable")
    dashboard_warehouse.write_reader_secret()
    expect(_figure(page, "revenue-gbp")).to_have_text("362.50 GBP", timeout=WAIT_MS)
    expect(status).to_contain_text("Warehouse answered: 4 sales orders")
    _assert_no_stack_trace(page, dashboard_warehouse.reader.password)
    _screenshot(page, "09-recovered")
