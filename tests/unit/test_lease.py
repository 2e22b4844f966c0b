"""Which remote work dirs belong to runs that are gone (times are the host's own)."""
from __future__ import annotations

import pytest

from yaffmpegp.cli import settings_from
from yaffmpegp.errors import UsageError
from yaffmpegp.transport.lease import LeaseTimes, is_stale


def test_a_fresh_lease_keeps_its_dir() -> None:
    assert not is_stale(now=1000, lease_mtime=990, expiry=120)


def test_a_lease_not_renewed_for_longer_than_the_expiry_is_a_gone_run() -> None:
    assert is_stale(now=1000, lease_mtime=879, expiry=120)
    assert not is_stale(now=1000, lease_mtime=880, expiry=120)


def test_a_dir_without_lease_is_never_judged_by_its_age() -> None:
    assert not is_stale(now=10**9, lease_mtime=None, expiry=120)


def test_lease_times_must_renew_before_expiring() -> None:
    assert LeaseTimes().refresh < LeaseTimes().expiry
    with pytest.raises(ValueError):
        LeaseTimes(refresh=10, expiry=10)


def test_lease_times_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YAFFMPEGP_LEASE", "1,6")
    assert settings_from(["--file", "x.mkv"])[0].ssh.lease == (1.0, 6.0)
    for bad in ("6,1", "1", "a,b"):
        monkeypatch.setenv("YAFFMPEGP_LEASE", bad)
        with pytest.raises(UsageError):
            settings_from(["--file", "x.mkv"])
    monkeypatch.delenv("YAFFMPEGP_LEASE")
    assert settings_from(["--file", "x.mkv"])[0].ssh.lease is None
