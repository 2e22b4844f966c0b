"""A real single-node Slurm cluster (munged, slurmctld, slurmd from Debian's packages) in a
temp dir, for the Slurm tests. No systemd: the daemons are started here and stopped by the
pids they write. Needs root (slurmd runs tasks as their users).

    python -m tests.slurm_cluster up DIR     # start one, print the environment to use it
    python -m tests.slurm_cluster down DIR
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

PARTITION = "yaff"
DAEMONS = ("/usr/sbin/munged", "/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/bin/sbatch")


def missing() -> str | None:
    """Why a cluster cannot be brought up here, or None."""
    if os.geteuid() != 0:
        return "a Slurm cluster needs root (slurmd runs tasks as their users)"
    absent = [p for p in DAEMONS if not os.access(p, os.X_OK)]
    if absent:
        return f"Slurm is not installed ({', '.join(absent)} missing): apt-get install slurmctld slurmd slurm-client munge"
    return None


@dataclass(frozen=True)
class Cluster:
    root: Path
    partition: str = PARTITION

    @property
    def env(self) -> dict[str, str]:
        """What a client (sbatch, squeue) needs to find this cluster."""
        return {"SLURM_CONF": str(self.root / "slurm.conf")}

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), capture_output=True, text=True, timeout=30,
                              env={**os.environ, **self.env})

    def jobs(self) -> list[str]:
        """Every job the cluster still lists (one line each)."""
        r = self.run("squeue", "-h", "-o", "%i %T %j")
        return [line for line in r.stdout.splitlines() if line.strip()]


def _memory() -> int:
    out = subprocess.run(["/usr/sbin/slurmd", "-C"], capture_output=True, text=True, timeout=30).stdout
    for word in out.split():
        if word.startswith("RealMemory="):
            return max(100, int(int(word.split("=")[1]) * 0.9))
    return 1000


def _conf(root: Path) -> str:
    cpus = os.cpu_count() or 1
    return "\n".join([
        "ClusterName=yafftest",
        "SlurmctldHost=localhost(127.0.0.1)",
        f"SlurmctldPort={_free_port()}",
        f"SlurmdPort={_free_port()}",
        f"AuthInfo=socket={root / 'munge' / 'munge.socket'}",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        "SlurmUser=root",
        "SlurmdUser=root",
        f"StateSaveLocation={root / 'state'}",
        f"SlurmdSpoolDir={root / 'spool'}",
        f"SlurmctldPidFile={root / 'slurmctld.pid'}",
        f"SlurmdPidFile={root / 'slurmd.pid'}",
        f"SlurmctldLogFile={root / 'slurmctld.log'}",
        f"SlurmdLogFile={root / 'slurmd.log'}",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "SchedulerParameters=batch_sched_delay=0",
        "ReturnToService=2",
        "MpiDefault=none",
        "InactiveLimit=0",
        "KillWait=5",
        "MinJobAge=300",
        f"NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={_memory()} State=UNKNOWN",
        f"PartitionName={PARTITION} Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
        "",
    ])


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def up(root: Path, timeout: float = 60) -> Cluster:
    """Start munged, slurmctld and slurmd under `root`; return once the node is idle."""
    reason = missing()
    if reason:
        raise RuntimeError(reason)
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    for d in ("state", "spool"):
        (root / d).mkdir(exist_ok=True)
    munge = root / "munge"
    munge.mkdir(exist_ok=True)
    munge.chmod(0o755)  # munged refuses a socket dir that is not world-executable
    key = munge / "munge.key"
    key.write_bytes(os.urandom(1024))
    shutil.chown(key, "munge", "munge")
    key.chmod(0o400)
    shutil.chown(munge, "munge", "munge")
    (root / "slurm.conf").write_text(_conf(root))
    cluster = Cluster(root)
    subprocess.run(["runuser", "-u", "munge", "--", "/usr/sbin/munged", f"--socket={munge / 'munge.socket'}",
                    f"--key-file={key}", f"--pid-file={munge / 'munged.pid'}",
                    f"--log-file={munge / 'munged.log'}", f"--seed-file={munge / 'munged.seed'}"],
                   check=True, timeout=30)
    env = {**os.environ, **cluster.env}
    subprocess.run(["/usr/sbin/slurmctld", "-i"], check=True, timeout=30, env=env)
    subprocess.run(["/usr/sbin/slurmd", "-N", "localhost"], check=True, timeout=30, env=env)
    deadline = time.monotonic() + timeout
    while True:
        state = cluster.run("sinfo", "-h", "-n", "localhost", "-o", "%t").stdout.strip()
        if state == "idle":
            return cluster
        if time.monotonic() > deadline:
            down(root)
            raise RuntimeError(f"the Slurm node never became idle (state {state!r}); see {root}/*.log")
        time.sleep(0.5)


def _stop(pidfile: Path, sig: int = signal.SIGTERM, wait: float = 10) -> None:
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def down(root: Path) -> None:
    """Stop the daemons by their pids (jobs still running die with slurmd's steps)."""
    if (root / "slurm.conf").exists():
        subprocess.run(["scancel", "--full", "--user", str(os.getuid())], capture_output=True, timeout=30,
                       env={**os.environ, "SLURM_CONF": str(root / "slurm.conf")})
    _stop(root / "slurmd.pid")
    _stop(root / "slurmctld.pid")
    _stop(root / "munge" / "munged.pid")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("up", "down"):
        sys.exit("usage: python -m tests.slurm_cluster up|down DIR")
    where = Path(sys.argv[2]).resolve()
    if sys.argv[1] == "up":
        c = up(where)
        print(f"export SLURM_CONF={c.root / 'slurm.conf'}  # partition {c.partition}")
    else:
        down(where)
