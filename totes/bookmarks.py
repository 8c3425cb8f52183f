"""Job bookmarks with Glue's lifecycle, kept by the job in its own zone.

Why not Glue's built-in JDBC bookmark: it keeps ``max(key)`` and reads ``key > max`` next time, which loses
rows here (``last_updated`` is shared by many rows and a transaction can commit after a read with an earlier
timestamp; see README "The bookmark guarantee"). The ingestion job therefore keeps a richer state (the read
window) itself, but with exactly Glue's rules so that operators meet no surprise:

- state is loaded when the run starts and saved **only** at :meth:`JobBookmark.commit`, called right before
  ``job.commit()`` once every output is written; a failed run leaves it untouched, so the rerun re-reads;
- ``--job-bookmark-option``: ``job-bookmark-enable`` reads from and advances the state, ``job-bookmark-disable``
  (Glue's default) ignores it and never saves, ``job-bookmark-pause`` reads from it and never saves;
- reset deletes the state (like ``aws glue reset-job-bookmark``) and, like Glue's, does not clean the targets.

The stored entry has the shape of Glue's ``JobBookmarkEntry`` (JobName, Version, Run, Attempt, RunId,
PreviousRunId, JobBookmark keyed by ``transformation_ctx``), as JSON at ``_state/bookmarks/<job>.json`` in the
job's output zone; the write is atomic (rename locally, one PUT on S3).
"""

from __future__ import annotations

import copy
import json
import logging

from totes.logs import log_event
from totes.manifests import list_manifest_run_ids
from totes.zones import ZoneStore

logger = logging.getLogger("totes.bookmarks")

ENABLE = "job-bookmark-enable"
DISABLE = "job-bookmark-disable"
PAUSE = "job-bookmark-pause"
BOOKMARK_OPTIONS = (ENABLE, DISABLE, PAUSE)


def bookmark_key(job_name: str) -> str:
    return f"_state/bookmarks/{job_name}.json"


class JobBookmark:
    """The bookmark of one job run: committed state in, staged state out."""

    def __init__(self, store: ZoneStore, job_name: str, option: str = DISABLE):
        if option not in BOOKMARK_OPTIONS:
            raise ValueError(
                f"invalid --job-bookmark-option {option!r}; expected one of {', '.join(BOOKMARK_OPTIONS)}"
            )
        self.store = store
        self.job_name = job_name
        self.option = option
        self._entry = self._load()
        self._staged = copy.deepcopy(self._entry["JobBookmark"])
        self._committed = False

    def _load(self) -> dict:
        key = bookmark_key(self.job_name)
        if self.store.exists(key):
            return json.loads(self.store.read_text(key))
        return {"JobName": self.job_name, "Version": 0, "Run": 0, "Attempt": 0, "RunId": None,
                "PreviousRunId": None, "JobBookmark": {}}

    @property
    def last_accounted_run_id(self) -> str | None:
        """The newest run whose outputs the committed state accounts for (None: no run is accounted for).

        Runs with a later id wrote manifests without moving the bookmark (killed between the two writes, or
        run with ``pause``/``disable``); after a reset, runs up to the reset are deliberately forgotten.
        """
        return self._entry.get("RunId") or self._entry.get("ResetAfterRunId")

    @property
    def entry(self) -> dict:
        """The committed entry as loaded at the start of the run (Glue's GetJobBookmark shape)."""
        return copy.deepcopy(self._entry)

    def state(self, transformation_ctx: str) -> dict | None:
        """The committed state of one read, or None when the read must start from scratch.

        ``disable`` always starts from scratch, as Glue's "always process the entire dataset".
        """
        if self.option == DISABLE:
            return None
        state = self._entry["JobBookmark"].get(transformation_ctx)
        return copy.deepcopy(state) if state is not None else None

    def stage(self, transformation_ctx: str, state: dict) -> None:
        """Record the state this run reached for one read; nothing is saved before :meth:`commit`."""
        self._staged[transformation_ctx] = copy.deepcopy(state)

    def commit(self, run_id: str) -> bool:
        """Save the staged state atomically if the option allows it. Returns whether anything was saved."""
        if self._committed:
            raise RuntimeError(f"bookmark of {self.job_name} already committed for run {run_id}")
        self._committed = True
        if self.option != ENABLE:
            log_event(logger, "bookmark not advanced", job_bookmark_option=self.option, run_id=run_id)
            return False
        entry = {
            "JobName": self.job_name,
            "Version": self._entry["Version"] + 1,
            "Run": self._entry["Run"] + 1,
            "Attempt": 0,
            "RunId": run_id,
            "PreviousRunId": self._entry["RunId"],
            "JobBookmark": self._staged,
        }
        self.store.write_text(bookmark_key(self.job_name), json.dumps(entry, indent=2, sort_keys=True))
        self._entry = entry
        log_event(logger, "bookmark committed", version=entry["Version"], run_id=run_id)
        return True


def reset_bookmark(store: ZoneStore, job_name: str) -> bool:
    """Forget a job's state, like ``aws glue reset-job-bookmark``: its next run reads everything again.

    Like Glue's reset, this does not clean the job's targets. The entry left behind has no state, only the
    newest run at the time of the reset, so that the next run re-reads everything instead of mistaking the
    earlier runs for runs that were killed before committing. Returns whether there was state to forget.
    """
    key = bookmark_key(job_name)
    existed = store.exists(key) and bool(json.loads(store.read_text(key)).get("JobBookmark"))
    run_ids = list_manifest_run_ids(store, job_name)
    entry = {"JobName": job_name, "Version": 0, "Run": 0, "Attempt": 0, "RunId": None, "PreviousRunId": None,
             "JobBookmark": {}, "ResetAfterRunId": run_ids[-1] if run_ids else None}
    store.write_text(key, json.dumps(entry, indent=2, sort_keys=True))
    log_event(logger, "bookmark reset", job=job_name, existed=existed)
    return existed
