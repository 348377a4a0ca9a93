"""vadlib.runtime.atomic_output: the one way every non-store file (scores, checkpoints, manifest, auc.json,
figures, the LDM directory) reaches its final name."""

import json
import subprocess
import sys

import pytest

from vadlib.runtime import atomic_output


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


def test_the_file_appears_whole_under_its_name_and_no_temporary_stays(tmp_path):
    path = tmp_path / "sub" / "auc.json"
    with atomic_output(path) as tmp:
        assert tmp.parent == path.parent and tmp.suffix == ".json" and tmp.name.startswith(".auc.tmp-")
        tmp.write_text('{"auc": 0.5}')
        assert not path.exists()  # nothing under the final name before the block ends
    assert json.loads(path.read_text()) == {"auc": 0.5}
    assert leftovers(path.parent) == []


def test_an_error_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    path = tmp_path / "scores.npz"
    path.write_bytes(b"finished")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_output(path) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("disk full")
    assert path.read_bytes() == b"finished"
    assert leftovers(tmp_path) == []


def test_a_directory_replaces_the_older_one(tmp_path):
    path = tmp_path / "ldm"
    (path / "old").mkdir(parents=True)
    with atomic_output(path) as tmp:
        (tmp / "unet").mkdir(parents=True)
        (tmp / "unet" / "weights").write_text("new")
    assert sorted(p.name for p in path.iterdir()) == ["unet"] and (path / "unet" / "weights").read_text() == "new"
    assert leftovers(tmp_path) == []


def test_the_temporary_of_a_killed_writer_is_removed_by_the_next_one_and_only_it(tmp_path):
    """SIGKILL runs no cleanup: the temporary stays, the final name does not exist, and the next write of
    the same path removes the temporary. Temporaries of other paths are not touched."""
    path = tmp_path / "manifest.csv"
    code = ("import os, signal, sys; from vadlib.runtime import atomic_output\n"
            "with atomic_output(sys.argv[1]) as tmp:\n"
            "    tmp.write_text('video,split\\n')\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n")
    killed = subprocess.run([sys.executable, "-c", code, str(path)])
    assert killed.returncode == -9
    assert not path.exists()
    [stale] = leftovers(tmp_path)
    assert stale.startswith(".manifest.tmp-") and stale.endswith(".csv")
    others = [tmp_path / ".manifest.tmp-12.json", tmp_path / ".manifest2.tmp-12.csv", tmp_path / ".manifest.tmp-x.csv"]
    for other in others:
        other.write_text("someone else's")
    with atomic_output(path) as tmp:
        tmp.write_text("video,split\nv0,test\n")
    assert path.read_text() == "video,split\nv0,test\n"
    assert leftovers(tmp_path) == sorted(p.name for p in others)


STAGE_SCRIPT = """
import sys
from types import SimpleNamespace
from vadlib.runtime import stage

log, device = sys.argv[1], sys.argv[2]
params = SimpleNamespace(device=device) if device != "none" else SimpleNamespace()
job = SimpleNamespace(log=[log], threads=1, params=params)
with stage(job) as claimed:
    import torch
    print("device", claimed, "threads", torch.get_num_threads(), "torch" in sys.modules)
    raise RuntimeError("the stage failed")
"""


@pytest.mark.parametrize("device, shown", [("cpu", "device cpu threads 1"), ("none", "device None threads")])
def test_a_stage_opens_its_log_threads_and_device_once_for_every_script(tmp_path, device, shown):
    """``with stage(snakemake) as device``: the job's output and traceback go to its log, the console says
    where; a rule with a device runs torch on the rule's threads and gets the claimed card (cpu here)."""
    log = tmp_path / "logs" / "job.log"
    result = subprocess.run([sys.executable, "-c", STAGE_SCRIPT, str(log), device], capture_output=True, text=True,
                            env={"OMP_NUM_THREADS": "2", "PATH": "/usr/bin:/bin"})
    assert result.returncode != 0
    text = log.read_text()
    assert shown in text and "Traceback" in text and "RuntimeError: the stage failed" in text, text
    assert result.stderr.strip().splitlines()[-2:] == ["RuntimeError: the stage failed",
                                                      f"(full traceback in {log})"], result.stderr
    if device == "none":  # no device: the thread count is left as the environment set it
        assert "threads 2" in text, text
