"""Everything a run needs to know, decided once by the CLI."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .inventory import Inventory


@dataclass(frozen=True)
class SSHSettings:
    user: str | None = None
    config: tuple[str, ...] = ()  # extra ssh config files (~/.ssh/config is always read)
    known_hosts: str | None = None  # None: ~/.ssh/known_hosts
    accept_new_hostkeys: bool = False
    identity: tuple[str, ...] = ()
    remote_workdir: str | None = None
    remote_ffmpeg: str = "ffmpeg"
    # (refresh, expiry) seconds of the lease kept in each host's work dir; None: the
    # transport's defaults. Set only through the environment (YAFFMPEGP_LEASE), for tests.
    lease: tuple[float, float] | None = None


@dataclass(frozen=True)
class SlurmSettings:
    """--backend slurm: one job array per input, on a cluster sharing the work dir."""

    partition: str | None = None  # None: the cluster's default
    cpus_per_task: int | None = None
    max_parallel: int | None = None  # the array's %M throttle
    time_limit: str | None = None  # sbatch --time
    sbatch_args: tuple[str, ...] = ()  # passed through as given
    setup: str | None = None  # a shell line run in each task before ffmpeg ("module load ffmpeg")
    requeue: bool = False  # Slurm requeues a task whose node was lost
    ffmpeg: str = "ffmpeg"  # on the nodes


@dataclass(frozen=True)
class Settings:
    input: Path
    output: Path
    ffmpeg_args: tuple[str, ...]
    overwrite: bool = False
    hosts: tuple[str, ...] = ()  # empty (and no inventory): local workers only
    inventory: Inventory | None = None  # --hosts FILE
    segment_length: float = 50.0
    local_workers: int | None = None  # None: one per core
    prefetch: int = 1
    slots: int = 1
    retries: int = 3
    stale_timeout: float = 120.0
    workdir: Path | None = None  # parent of the private work dir; None: system temp
    keep_workdir: bool = False
    context: float | None = None  # seconds of warm-up for recursive filters; None: the default, 0: no context
    ssh: SSHSettings = SSHSettings()
    ffmpeg: str = "ffmpeg"
    ffprobe: str = "ffprobe"
    slurm: SlurmSettings | None = None  # None: local workers and SSH hosts


def default_output(src: Path) -> Path:
    """`<stem>.yaffmpegp<ext>` next to the input."""
    return src.with_name(f"{src.stem}.yaffmpegp{src.suffix}")
