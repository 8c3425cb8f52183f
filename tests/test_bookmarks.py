"""Job bookmarks follow Glue's rules: saved only at commit, per --job-bookmark-option, reset forgets."""

import json

import pytest

from totes.bookmarks import DISABLE, ENABLE, PAUSE, JobBookmark, bookmark_key, reset_bookmark
from totes.zones import ZoneStore


@pytest.fixture
def zone(tmp_path):
    return ZoneStore.for_uri(str(tmp_path / "zone"))


def _committed(zone, option=ENABLE, state=None, run_id="run-1"):
    bookmark = JobBookmark(zone, "job", option)
    bookmark.stage("source_payment", state or {"to_inclusive": "2024-01-01 00:00:00.000"})
    bookmark.commit(run_id)
    return bookmark


def test_nothing_is_saved_before_commit(zone):
    bookmark = JobBookmark(zone, "job", ENABLE)
    bookmark.stage("source_payment", {"to_inclusive": "x"})
    assert not zone.exists(bookmark_key("job"))


def test_commit_saves_a_glue_shaped_entry_and_counts_runs(zone):
    _committed(zone, run_id="run-1")
    _committed(zone, run_id="run-2")
    entry = json.loads(zone.read_text(bookmark_key("job")))
    assert entry["JobName"] == "job"
    assert (entry["Version"], entry["Run"], entry["RunId"], entry["PreviousRunId"]) == (2, 2, "run-2", "run-1")
    assert JobBookmark(zone, "job", ENABLE).state("source_payment") == {"to_inclusive": "2024-01-01 00:00:00.000"}


def test_pause_reads_the_state_but_never_saves(zone):
    _committed(zone)
    paused = JobBookmark(zone, "job", PAUSE)
    assert paused.state("source_payment") is not None
    paused.stage("source_payment", {"to_inclusive": "later"})
    assert paused.commit("run-2") is False
    assert JobBookmark(zone, "job", ENABLE).state("source_payment")["to_inclusive"] != "later"


def test_disable_ignores_the_state_and_never_saves(zone):
    _committed(zone)
    disabled = JobBookmark(zone, "job", DISABLE)
    assert disabled.state("source_payment") is None
    assert disabled.commit("run-2") is False


def test_an_invalid_option_is_named(zone):
    with pytest.raises(ValueError, match="job-bookmark-sometimes"):
        JobBookmark(zone, "job", "job-bookmark-sometimes")


def test_committing_twice_in_one_run_is_an_error(zone):
    bookmark = _committed(zone)
    with pytest.raises(RuntimeError, match="already committed"):
        bookmark.commit("run-1")


def test_reset_forgets_the_state_and_says_whether_there_was_any(zone):
    _committed(zone)
    assert reset_bookmark(zone, "job") is True
    assert JobBookmark(zone, "job", ENABLE).state("source_payment") is None
    assert reset_bookmark(zone, "job") is False
