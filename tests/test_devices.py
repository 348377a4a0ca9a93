"""The GPU allocator: different cards for concurrent jobs, CUDA_VISIBLE_DEVICES honoured, waits and
crash recovery; fake device counts, real processes and real flocks."""

from __future__ import annotations

import multiprocessing as mp
import os
import queue as queue_module
import signal
import time

import pytest

from vadlib import devices
from vadlib.devices import claim_gpu

CTX = mp.get_context("spawn")  # fresh interpreters, like Snakemake's job processes


def _hold(env: dict, results, release, timeout: float = 10.0, crash: bool = False) -> None:
    """Child process: claim a card under ``env``, report it, hold it until ``release`` is set."""
    for key, value in env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        with claim_gpu("auto", timeout=timeout) as device:
            results.put(("claimed", device, os.environ.get("CUDA_VISIBLE_DEVICES"), os.getpid()))
            if crash:
                results.close()
                results.join_thread()  # the report is sent before the process dies
                os.kill(os.getpid(), signal.SIGKILL)
            release.wait(30)
    except TimeoutError as err:
        results.put(("timeout", str(err), None, os.getpid()))
    except Exception as err:  # reported, so the test fails at once and says why
        results.put(("error", repr(err), None, os.getpid()))


def _start(env, results, release, **kwargs):
    proc = CTX.Process(target=_hold, args=(env, results, release), kwargs=kwargs)
    proc.start()
    return proc


def _get(results, timeout=30.0):
    try:
        report = results.get(timeout=timeout)
    except queue_module.Empty:
        raise AssertionError("child process reported nothing") from None
    assert report[0] != "error", report[1]
    return report


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Environment of the children: private lock folder, two fake cards, no SLURM, no visible list."""
    values = {"VADLIB_GPU_LOCKS": str(tmp_path / "locks"), "VADLIB_GPU_COUNT": "2",
              "CUDA_VISIBLE_DEVICES": None, "SLURM_JOB_ID": None}
    for key, value in values.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    return values


def test_two_jobs_get_different_cards_and_a_third_waits_for_one(env):
    results, release_a, release_b = CTX.Queue(), CTX.Event(), CTX.Event()
    a = _start(env, results, release_a)
    b = _start(env, results, release_b)
    first, second = _get(results), _get(results)
    assert first[0] == second[0] == "claimed"
    assert first[1] == second[1] == "cuda:0"  # each sees its one card as device 0
    assert {first[2], second[2]} == {"0", "1"}  # ... and they are different cards

    # a third job gives up clearly when its timeout is short ...
    never = CTX.Event()  # kept referenced: a collected Event vanishes before the child opens it
    impatient = _start(env, results, never, timeout=0.5)
    kind, message, _, _ = _get(results)
    impatient.join(10)
    assert kind == "timeout" and "locks" in message and "['0', '1']" in message
    # ... and gets the freed card when it waits long enough
    waiting_release = CTX.Event()
    waiting = _start(env, results, waiting_release, timeout=20)
    time.sleep(0.5)
    assert results.empty(), "the third job claimed a card while both were held"
    holder_of = {first[3]: first[2], second[3]: second[2]}
    release_a.set()
    a.join(10)
    third = _get(results)
    assert third[0] == "claimed" and third[2] == holder_of[a.pid]
    for event in (release_b, waiting_release):
        event.set()
    for proc in (b, waiting):
        proc.join(10)
        assert proc.exitcode == 0


def test_existing_visible_devices_restrict_the_candidates(env):
    env = {**env, "CUDA_VISIBLE_DEVICES": "5,7", "VADLIB_GPU_COUNT": "8"}
    results, release = CTX.Queue(), CTX.Event()
    procs = [_start(env, results, release) for _ in range(2)]
    cards = sorted(_get(results)[2] for _ in procs)
    assert cards == ["5", "7"]  # re-exported as one id each
    release.set()
    for proc in procs:
        proc.join(10)


def test_a_crashed_holder_releases_its_card(env):
    env = {**env, "VADLIB_GPU_COUNT": "1"}
    results, never = CTX.Queue(), CTX.Event()
    crashed = _start(env, results, never, crash=True)
    assert _get(results)[2] == "0"
    crashed.join(10)
    assert crashed.exitcode == -signal.SIGKILL
    with claim_gpu("auto", timeout=2.0) as device:  # would time out if the lock had survived
        assert device == "cuda:0" and os.environ["CUDA_VISIBLE_DEVICES"] == "0"
    assert "CUDA_VISIBLE_DEVICES" not in os.environ  # restored after the claim


def test_slurm_jobs_have_separate_lock_namespaces(env, monkeypatch):
    monkeypatch.setenv("VADLIB_GPU_COUNT", "1")
    monkeypatch.setenv("SLURM_JOB_ID", "41")
    with claim_gpu("cuda", timeout=2.0):
        assert devices.lock_dir().name == "slurm-41"
        # another job of the same allocation has to wait for the card ...
        with pytest.raises(TimeoutError):
            devices.acquire_gpu(["0"], timeout=0.3)
        # ... another SLURM job does not: its card "0" is a different card, SLURM saw to that
        monkeypatch.setenv("SLURM_JOB_ID", "42")
        other = devices.acquire_gpu(["0"], timeout=0.3)
        other.release()


def test_no_gpu_means_cpu_without_locks(env, monkeypatch, tmp_path):
    monkeypatch.setenv("VADLIB_GPU_COUNT", "0")
    with claim_gpu("auto") as device:
        assert device == "cpu" and "CUDA_VISIBLE_DEVICES" not in os.environ
    with pytest.raises(RuntimeError, match="no GPU is visible"):
        with claim_gpu("cuda"):
            pass
    monkeypatch.setenv("VADLIB_GPU_COUNT", "2")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # hidden cards are no candidates
    with claim_gpu("auto") as device:
        assert device == "cpu"
    assert devices.candidate_gpus() == []
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,-1,2")  # CUDA stops at the first invalid id
    assert devices.candidate_gpus() == ["1"]
    assert not (tmp_path / "locks").exists()


def test_explicit_devices_are_taken_as_given(env):
    with claim_gpu("cpu") as device:
        assert device == "cpu"
    with claim_gpu("cuda:3") as device:
        assert device == "cuda:3" and "CUDA_VISIBLE_DEVICES" not in os.environ
    with pytest.raises(ValueError, match="gpu0"):
        with claim_gpu("gpu0"):
            pass


def test_fake_count_must_be_a_number(env, monkeypatch):
    monkeypatch.setenv("VADLIB_GPU_COUNT", "two")
    with pytest.raises(ValueError, match="VADLIB_GPU_COUNT"):
        devices.count_gpus()
