"""The `slurm` fixture: one real single-node Slurm cluster (munged, slurmctld, slurmd) for
the whole test session, in a temp dir, stopped by the daemons' pids at the end
(tests/slurm_cluster.py). To use it from a test module:

    from tests.integration.conftest_slurm import slurm  # noqa: F401

Tests that need it are skipped (not failed) when not running as root or without Slurm's
packages (apt-get install slurmctld slurmd slurm-client munge; `make deps-test` does).
"""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import slurm_cluster
from tests.slurm_cluster import Cluster

_SHARED = "_yaffmpegp_slurm"


@pytest.fixture(scope="session")
def slurm(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    running = getattr(request.config, _SHARED, None)
    if running is not None:
        yield running
        return
    reason = slurm_cluster.missing()
    if reason:
        pytest.skip(reason)
    # not under pytest's tmp dir: munged (its own user) must reach its key and socket
    root = Path(tempfile.mkdtemp(prefix="yaffmpegp-slurm-"))
    try:
        cluster = slurm_cluster.up(root)
        setattr(request.config, _SHARED, cluster)
        yield cluster
    finally:
        slurm_cluster.down(root)
        shutil.rmtree(root, ignore_errors=True)
