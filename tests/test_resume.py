"""Resuming after a kill: a store is either complete or refused, and a rerun redoes only what is missing.

The pipeline test (its run is conftest's session fixture ``killed_and_resumed``) kills the tiny pipeline
(SIGTERM to its whole process group, as a batch system does at a time limit) while a per-video stage
runs, then reruns it with ``--rerun-incomplete`` (which profiles/local sets): no job finished before the
kill is recomputed, and no store without its completion mark is ever taken as done.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from vadlib.stores import StoreError, open_store, write_store

from conftest import PER_VIDEO_STORE, RESULTS, assert_every_store_complete, fingerprint, temporaries

ATTRS = {"source": "x.mp4", "fps": 25.0, "original_size": [8, 8], "stored_size": [8, 8]}


@pytest.mark.slow
def test_killed_pipeline_resumes_without_recomputing_finished_videos(killed_and_resumed):
    """Killed once two videos are decoded and another per-video stage (flow, features, masks, ...) runs;
    which stages exist is read from Snakemake's own log, so new stages need no change here."""
    run = killed_and_resumed
    workdir, killed, done = run["workdir"], run["killed"], run["done"]
    assert run["returncode"] != 0 and not run["auc_after_kill"]
    assert any(PER_VIDEO_STORE.match(o) for o in killed), killed
    assert run["complete_after_kill"]
    # Snakemake's plan: the killed jobs again, none of the finished ones
    assert killed <= run["planned"], sorted(killed - run["planned"])
    assert not run["planned"] & done, sorted(run["planned"] & done)
    # the rerun: nothing finished is redone or touched, and it completes
    assert not run["rerun"] & done
    assert {o: fingerprint(workdir / o) for o in done} == run["before"]
    assert (workdir / RESULTS / "auc.json").exists()
    assert_every_store_complete(workdir)
    assert not temporaries(workdir)


# --- library level: a writer killed mid-store ---------------------------------------------------------

KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    from vadlib.stores import StoreWriter
    attrs = {"source": "x.mp4", "fps": 25.0, "original_size": [8, 8], "stored_size": [8, 8]}
    with StoreWriter(sys.argv[1], "frames", (32, 8, 8, 3), "uint8", attrs) as writer:
        writer.write(0, np.full((16, 8, 8, 3), 7, np.uint8))
        os.kill(os.getpid(), signal.SIGKILL)  # killed half-way: no exception handler, no cleanup
""")


def test_store_of_a_killed_writer_is_refused_and_cleaned_up(tmp_path):
    path = tmp_path / "v.zarr"
    old = np.ones((4, 8, 8, 3), np.uint8)
    write_store(path, "frames", old, ATTRS)
    before = fingerprint(path)
    result = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path)], capture_output=True, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=120)
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert fingerprint(path) == before                         # the finished store is untouched
    np.testing.assert_array_equal(open_store(path, "frames").read(), old)
    [leftover] = tmp_path.glob(".v.zarr.tmp-*")                # what the killed writer left
    with pytest.raises(StoreError, match=r"tmp-\d+: the store is incomplete \(attribute 'complete' is not true\)"):
        open_store(leftover, "frames")
    moved = tmp_path / "moved.zarr"                            # even moved into place by hand, it is refused
    leftover.rename(moved)
    with pytest.raises(StoreError, match=r"moved\.zarr: the store is incomplete"):
        open_store(moved, "frames")
    moved.rename(leftover)
    new = np.full((6, 8, 8, 3), 3, np.uint8)
    write_store(path, "frames", new, ATTRS)                    # the next writer of the path removes it
    assert not list(tmp_path.glob(".v.zarr.tmp-*"))
    np.testing.assert_array_equal(open_store(path, "frames").read(), new)
