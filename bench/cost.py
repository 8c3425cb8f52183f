"""The monthly AWS Glue bill of the 15-minute schedule, from measured durations and Glue's published prices.

Prices (AWS Glue pricing page, us-east-1 and most regions, read 2026): Spark ETL jobs $0.44 per DPU-hour billed
per second with a 1-minute minimum per job run (Glue 2.0 and later); the Flex execution class $0.29 per
DPU-hour, same minimum; crawlers $0.44 per DPU-hour billed per second with a 10-minute minimum per crawler run.
A G.1X worker is 1 DPU (4 vCPU, 16 GB), G.2X 2 DPU; a Spark job needs at least 2 workers. The Data Catalog's
first million objects and requests a month are free (this pipeline stays far below).

The durations: what the jobs took here, on two cores, one process each. A 2 × G.1X job has one 4-vCPU driver
and one 4-vCPU executor, so the local durations are taken as the AWS run time of such a job (conservative for
the work, which gets twice the cores; optimistic for S3 and VPC latency). Glue bills from the start of the job
run to its end; its own provisioning before that is not billed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

DPU_HOUR_USD = 0.44
FLEX_DPU_HOUR_USD = 0.29
JOB_MINIMUM_SECONDS = 60.0
CRAWLER_MINIMUM_SECONDS = 600.0
CRAWLER_DPU = 1.0  # what a crawler run is billed for by default (as the README's crawler estimate)
RUNS_PER_DAY = 24 * 4  # cron(0/15 * * * ? *)
DAYS_PER_MONTH = 30.42
DPU_PER_WORKER = {"G.1X": 1.0, "G.2X": 2.0, "G.4X": 4.0, "G.8X": 8.0}


@dataclass(frozen=True)
class Capacity:
    worker_type: str = "G.1X"
    number_of_workers: int = 2

    @property
    def dpu(self) -> float:
        return DPU_PER_WORKER[self.worker_type] * self.number_of_workers


def billed_seconds(seconds: float) -> float:
    return max(JOB_MINIMUM_SECONDS, float(seconds))


def job_run_cost(seconds: float, capacity: Capacity, price: float = DPU_HOUR_USD) -> float:
    return billed_seconds(seconds) / 3600.0 * capacity.dpu * price


def monthly_cost(job_seconds: dict[str, float], capacity: dict[str, Capacity], price: float = DPU_HOUR_USD,
                 crawler_runs_per_day: int = 2) -> dict:
    """The month of the 15-minute schedule: every run runs every job once; crawlers as scheduled."""
    runs = RUNS_PER_DAY * DAYS_PER_MONTH
    jobs = {}
    for job, seconds in job_seconds.items():
        per_run = job_run_cost(seconds, capacity[job], price)
        jobs[job] = {"seconds": round(seconds, 1), "billed_seconds": billed_seconds(seconds),
                     "dpu": capacity[job].dpu, "usd_per_run": round(per_run, 5),
                     "usd_per_month": round(per_run * runs, 2)}
    crawlers = crawler_runs_per_day * DAYS_PER_MONTH * CRAWLER_MINIMUM_SECONDS / 3600.0 * CRAWLER_DPU * DPU_HOUR_USD
    total = sum(job["usd_per_month"] for job in jobs.values()) + crawlers
    workflow_seconds = sum(job_seconds.values())
    return {"jobs": jobs, "crawlers_usd_per_month": round(crawlers, 2), "usd_per_month": round(total, 2),
            "workflow_seconds": round(workflow_seconds, 1), "keeps_up": workflow_seconds < 15 * 60,
            "runs_per_month": round(runs)}


def estimate(delta_seconds: dict[str, float], delta_seconds_at_100x: dict[str, float],
             full_seconds_at_100x: dict[str, float], terraform_capacity: Capacity) -> dict:
    """The bill with the Terraform settings, the cheapest settings that keep up, and at 100 times the data."""
    jobs = list(delta_seconds)
    configured = {job: terraform_capacity for job in jobs}
    cheapest = {job: Capacity("G.1X", 2) for job in jobs}
    return {
        "prices": {"dpu_hour_usd": DPU_HOUR_USD, "flex_dpu_hour_usd": FLEX_DPU_HOUR_USD,
                   "job_minimum_seconds": JOB_MINIMUM_SECONDS, "crawler_minimum_seconds": CRAWLER_MINIMUM_SECONDS,
                   "runs_per_day": RUNS_PER_DAY, "days_per_month": DAYS_PER_MONTH},
        "terraform_capacity": asdict(terraform_capacity),
        "today": {
            "terraform_settings": monthly_cost(delta_seconds, configured),
            "cheapest_standard": monthly_cost(delta_seconds, cheapest),
            "cheapest_flex": monthly_cost(delta_seconds, cheapest, FLEX_DPU_HOUR_USD),
            "crawlers_every_run_instead": monthly_cost(delta_seconds, cheapest, crawler_runs_per_day=2 * RUNS_PER_DAY),
        },
        "at_100x": {
            "terraform_settings": monthly_cost(delta_seconds_at_100x, configured),
            "cheapest_standard": monthly_cost(delta_seconds_at_100x, cheapest),
            "initial_full_load": {job: round(job_run_cost(s, terraform_capacity), 3)
                                  for job, s in full_seconds_at_100x.items()},
        },
    }
