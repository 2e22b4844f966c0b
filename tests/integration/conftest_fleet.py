"""The `fleet` fixture: one real sshd fleet for the whole test session.

Three hosts with ffmpeg (`fleet.names` == ["h1", "h2", "h3"]) and one without it
(`fleet.bare_names` == ["h4"]), all reachable by name through `fleet.ssh_config`.
To use it from a conftest or a test module:

    from tests.integration.conftest_fleet import fleet  # noqa: F401

Tests that need it are skipped (not failed) when not running as root or without sshd.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fleet import SSHD, Fleet

HOSTS = 3
HOSTS_WITHOUT_FFMPEG = 1
_SHARED = "_yaffmpegp_fleet"  # config attribute holding the running fleet


@pytest.fixture(scope="session")
def fleet(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    # If this fixture is imported in two places (a conftest and a test module), pytest makes
    # two session fixtures; both must share one fleet, since hosts are fixed unix users.
    running = getattr(request.config, _SHARED, None)
    if running is not None:
        yield running
        return
    if os.geteuid() != 0 or not Path(SSHD).exists():
        pytest.skip("the sshd fleet needs root and openssh-server")
    with Fleet().start(HOSTS, tmp_path_factory.mktemp("fleet"), without_ffmpeg=HOSTS_WITHOUT_FFMPEG) as f:
        setattr(request.config, _SHARED, f)
        try:
            yield f
        finally:
            delattr(request.config, _SHARED)
