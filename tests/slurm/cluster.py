"""A throwaway single-node SLURM cluster on this machine, for testing the workflow's SLURM profile.

Everything lives in one temporary folder: a munge key and socket, ``slurm.conf`` and ``gres.conf``,
the controller's state, the node's spool, the logs, and an ``srun`` shim that restores ``SLURM_CONF``
(see :meth:`SlurmCluster.write_config`). ``munged``, ``slurmctld`` and ``slurmd`` run in the
foreground as children of this process and are stopped by their process ids, so nothing else running on
the machine (another SLURM, another munged) is touched. Clients find the cluster through
``SLURM_CONF`` (see :attr:`SlurmCluster.env`); the munge socket is named in ``AuthInfo``.

The node is ``localhost`` with 2 CPUs, the machine's memory and two fake GPUs: ``gres.conf`` lists
two empty files as the devices, so SLURM allocates, counts and exports them (``CUDA_VISIBLE_DEVICES``)
like real cards while nothing opens them. Accounting is off, so job states come from ``squeue``;
``MinJobAge`` keeps finished jobs visible there long enough.

Command line, for trying the profile by hand::

    python tests/slurm/cluster.py -- snakemake --profile profiles/slurm --slurm-status-command squeue ...
"""

from __future__ import annotations

import atexit
import getpass
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PACKAGES = ("slurm-wlm", "munge")
DAEMONS = ("munged", "slurmctld", "slurmd")
DEFAULT_ROOT = "/tmp"  # the munge socket path must stay short (108 bytes for a unix socket)


class ClusterUnavailable(RuntimeError):
    """This machine cannot run the daemons (the message says why)."""


def missing_binaries() -> list[str]:
    return [b for b in (*DAEMONS, "sbatch", "squeue", "sinfo", "srun") if shutil.which(b) is None]


def ensure_installed(log=print) -> None:
    """Install Debian's ``slurm-wlm`` and ``munge`` when a binary is missing (root, apt-get)."""
    if not missing_binaries():
        return
    if os.geteuid() != 0:
        raise ClusterUnavailable(f"{', '.join(missing_binaries())} not installed and not root to apt-get them")
    if shutil.which("apt-get") is None:
        raise ClusterUnavailable(f"{', '.join(missing_binaries())} not installed and no apt-get here")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def candidates() -> bool:
        out = subprocess.run(["apt-cache", "policy", *PACKAGES], capture_output=True, text=True, env=env).stdout
        return out.count("Candidate:") == len(PACKAGES) and "Candidate: (none)" not in out

    if not candidates():
        log("apt-get update")
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, text=True, env=env, timeout=300)
        if not candidates():
            raise ClusterUnavailable(f"apt has no candidate for {' / '.join(PACKAGES)}")
    log(f"apt-get install -y {' '.join(PACKAGES)}")
    result = subprocess.run(["apt-get", "install", "-y", "-qq", *PACKAGES], capture_output=True, text=True,
                            env=env, timeout=600)
    if result.returncode != 0 or missing_binaries():
        raise ClusterUnavailable(f"apt-get install {' '.join(PACKAGES)} failed ({result.returncode}):\n"
                                 f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return 4096


class SlurmCluster:
    """``with SlurmCluster() as cluster: subprocess.run(..., env=cluster.env)``."""

    def __init__(self, root: str | os.PathLike | None = None, cpus: int = 2, gpus: int = 2,
                 min_job_age: int = 600, startup_timeout: float = 90.0):
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="vadslurm-", dir=DEFAULT_ROOT))
        self.cpus, self.gpus, self.min_job_age = cpus, gpus, min_job_age
        self.startup_timeout = startup_timeout
        self.conf = self.root / "slurm.conf"
        self.procs: dict[str, subprocess.Popen] = {}
        self.gpu_files = False  # whether the fake GPUs have device files (see write_config)

    @property
    def env(self) -> dict[str, str]:
        """The environment under which SLURM's clients (sbatch, squeue, ...) talk to this cluster."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SRUN_"))}
        env["SLURM_CONF"] = str(self.conf)
        env["PATH"] = f"{self.root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        return env

    # -- configuration ---------------------------------------------------------------------------
    def write_config(self) -> None:
        for sub in ("munge", "state", "spool", "log", "dev", "bin"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        # The job-step side of the Snakemake plugin runs `srun` with every SLURM_* variable removed,
        # SLURM_CONF included: a cluster whose config is not at the compiled-in /etc/slurm/slurm.conf
        # needs it back (this one never touches /etc).
        srun = self.root / "bin" / "srun"
        srun.write_text(f'#!/bin/sh\nSLURM_CONF="{self.conf}" exec {shutil.which("srun")} "$@"\n')
        srun.chmod(0o755)
        os.chmod(self.root / "munge", 0o700)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o600)
        # fake GPUs: character devices like /dev/null (slurmd checks the file type, nothing opens them),
        # so that SLURM binds and exports them per job like real cards; without the right to mknod,
        # counted GPUs only (allocated, but no CUDA_VISIBLE_DEVICES)
        self.gpu_files = True
        try:
            for i in range(self.gpus):
                os.mknod(self.root / "dev" / f"nvidia{i}", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        except PermissionError:
            self.gpu_files = False
        user = getpass.getuser()
        gres = f" Gres=gpu:{self.gpus}" if self.gpus else ""
        lines = [
            "ClusterName=vadtest",
            "SlurmctldHost=localhost",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            f"SlurmUser={user}",
            f"SlurmdUser={user}",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.root / 'munge' / 'munge.socket'}",
            f"StateSaveLocation={self.root / 'state'}",
            f"SlurmdSpoolDir={self.root / 'spool'}",
            f"SlurmctldPidFile={self.root / 'slurmctld.pid'}",
            f"SlurmdPidFile={self.root / 'slurmd.pid'}",
            f"SlurmctldLogFile={self.root / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={self.root / 'log' / 'slurmd.log'}",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            # containers have no usable cgroups: track processes by /proc, bind no tasks
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "SchedulerType=sched/backfill",
            "MpiDefault=none",
            "ReturnToService=2",
            # node resources as written here, whatever the machine has (2 CPUs, 2 fake GPUs)
            "SlurmdParameters=config_overrides",
            # no accounting daemon: squeue is the status source, and finished jobs stay listed
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "JobCompType=jobcomp/none",
            f"MinJobAge={self.min_job_age}",
            "SlurmctldTimeout=30",
            "SlurmdTimeout=30",
            "InactiveLimit=0",
            "KillWait=5",
            "GresTypes=gpu",
            f"NodeName=localhost NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={_memory_mb()}{gres}",
            "PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
        ]
        self.conf.write_text("\n".join(lines) + "\n")
        gres_lines = ["AutoDetect=off"]
        if self.gpus and self.gpu_files:
            gres_lines.append(f"NodeName=localhost Name=gpu File={self.root / 'dev'}/nvidia[0-{self.gpus - 1}]")
        elif self.gpus:
            gres_lines.append(f"NodeName=localhost Name=gpu Count={self.gpus}")
        (self.root / "gres.conf").write_text("\n".join(gres_lines) + "\n")

    # -- daemons -----------------------------------------------------------------------------------
    def _spawn(self, name: str, cmd: list[str]) -> None:
        out = open(self.root / "log" / f"{name}.out", "w")
        self.procs[name] = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            env=self.env, start_new_session=True)
        out.close()

    def _wait(self, what: str, ready, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self.startup_timeout)
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise ClusterUnavailable(f"{name} exited ({proc.returncode}) while waiting for {what}\n"
                                             f"{self.logs()}")
            if ready():
                return
            time.sleep(0.5)
        raise ClusterUnavailable(f"timed out after {timeout or self.startup_timeout:g} s waiting for {what}\n"
                                 f"{self.logs()}")

    def start(self) -> SlurmCluster:
        ensure_installed()
        self.write_config()
        atexit.register(self.stop)  # daemons never outlive this process, whatever ends it
        munge = self.root / "munge"
        socket_path = munge / "munge.socket"
        self._spawn("munged", ["munged", "--foreground", "--force", f"--socket={socket_path}",
                               f"--key-file={munge / 'munge.key'}", f"--pid-file={munge / 'munged.pid'}",
                               f"--seed-file={munge / 'munged.seed'}",
                               f"--log-file={self.root / 'log' / 'munged.log'}"])
        self._wait("the munge socket", socket_path.exists, 30)
        self._spawn("slurmctld", ["slurmctld", "-D", "-f", str(self.conf)])
        self._wait("slurmctld", lambda: "UP" in self._out(["scontrol", "ping"]))
        self._spawn("slurmd", ["slurmd", "-D", "-f", str(self.conf), "-N", "localhost"])
        self._wait("the node to be idle", lambda: self.node_state().startswith("idle"))
        return self

    def stop(self) -> None:
        """Cancel what is still queued, then stop the daemons started here by their pids."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            subprocess.run(["scancel", "--full", "--user", getpass.getuser()], env=self.env,
                           capture_output=True, timeout=30)
        for name in reversed(DAEMONS):
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)

    def __enter__(self) -> SlurmCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- queries -----------------------------------------------------------------------------------
    def _out(self, cmd: list[str]) -> str:
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=30).stdout

    def node_state(self) -> str:
        return self._out(["sinfo", "--noheader", "--nodes=localhost", "--format=%T"]).strip()

    def logs(self, tail: int = 3000) -> str:
        parts = []
        for path in sorted((self.root / "log").glob("*")):
            text = path.read_text(errors="replace")
            if text.strip():
                parts.append(f"--- {path} ---\n{text[-tail:]}")
        return "\n".join(parts)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def main(argv: list[str]) -> int:
    """Run one command (after ``--``) against a fresh cluster, then stop it (its folder is kept, with
    the daemons' logs, when the command fails)."""
    if "--" in argv:
        argv = argv[argv.index("--") + 1:]
    if not argv:
        print(__doc__)
        return 2
    with SlurmCluster() as cluster:
        print(f"cluster up in {cluster.root} (SLURM_CONF={cluster.conf})", file=sys.stderr, flush=True)
        code = subprocess.run(argv, env=cluster.env).returncode
    if code == 0:
        cluster.remove()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
