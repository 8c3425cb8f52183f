"""The business dashboard: a Streamlit app over the warehouse, read through the read-only role.

- :mod:`totes.dashboard.config`: what the app reads from its environment (secret id, refresh interval, where
  the job runs come from);
- :mod:`totes.dashboard.queries`: every SQL statement the dashboard runs, in one place;
- :mod:`totes.dashboard.warehouse`: one consistent, read-only snapshot of the warehouse, and the problems
  (unreachable, missing tables, no data) as messages a person can act on;
- :mod:`totes.dashboard.job_runs`: recent job runs from the local run log or from Glue, and data freshness;
- :mod:`totes.dashboard.charts`: Altair charts and money formatting (money is never summed across currencies);
- :mod:`totes.dashboard.app`: the page. ``python -m totes.dashboard`` (``make dashboard``) serves it.
"""
