"""Leases on remote work dirs: which `yaffmpegp.*` dirs on a host belong to runs that are gone.

A coordinator can die without cleaning up (SIGKILL, a closed laptop, its network gone), and a
host can be lost mid-run and come back after the run ended: either leaves that run's work dir
on the host, often with segments of tens of MB in it. Each live run keeps a lease file in its
dir fresh (rewritten every `refresh` seconds over its connection); a dir whose lease is older
than `expiry` belongs to a run that is gone, and the next run that opens the host removes it.
A dir is never judged by its own age while it holds a lease: a long run's dir is old but alive.

Ages are measured on the host's own clock (file mtimes, against the mtime of a lease written
just now), so the clocks of coordinators on other machines do not matter. A dir without a
lease (made by an older yaffmpegp, whose run may be alive, or being made this very moment)
is left alone: its age alone says nothing about its run.
"""
from __future__ import annotations

import os
import posixpath
import socket
import stat
from dataclasses import dataclass

import asyncssh

LEASE = "lease"  # the lease file's name in a work dir
PREFIX = "yaffmpegp."  # work dirs are `yaffmpegp.XXXXXXXXXX` (mktemp)
DEFAULT_REFRESH = 15.0  # seconds between two writes of a live run's lease
DEFAULT_EXPIRY = 120.0  # seconds without a write after which a run is taken for gone


@dataclass(frozen=True)
class LeaseTimes:
    refresh: float = DEFAULT_REFRESH
    expiry: float = DEFAULT_EXPIRY

    def __post_init__(self) -> None:
        if not 0 < self.refresh < self.expiry:
            raise ValueError(f"a lease must be refreshed more often than it expires: {self}")


def is_stale(now: float, lease_mtime: float | None, expiry: float) -> bool:
    """Whether a work dir whose lease was last written at `lease_mtime` (None: it has none)
    belongs to a run that is gone. Times are the host's; `now` is the mtime of a file the
    host has just written."""
    return lease_mtime is not None and now - lease_mtime > expiry


def lease_text() -> bytes:
    """What a lease says (for a person looking at the host): which coordinator holds it."""
    return f"yaffmpegp run: pid {os.getpid()} on {socket.gethostname()}\n".encode()


async def write_lease(sftp: asyncssh.SFTPClient, workdir: str) -> float:
    """Rewrite the lease in `workdir`; returns its new mtime: the host's clock now."""
    path = posixpath.join(workdir, LEASE)
    async with sftp.open(path, "wb") as f:
        await f.write(lease_text())
    return float((await sftp.stat(path)).mtime or 0)


async def stale_dirs(sftp: asyncssh.SFTPClient, ours: str, now: float, expiry: float) -> list[str]:
    """Work dirs next to `ours` (this run's), owned by the same user, whose runs are gone."""
    parent = posixpath.dirname(ours)
    uid = (await sftp.stat(ours)).uid
    found = []
    for entry in await sftp.readdir(parent):
        name, attrs = entry.filename, entry.attrs
        if not isinstance(name, str) or not name.startswith(PREFIX) or "/" in name:
            continue
        path = posixpath.join(parent, name)
        if (path == ours or attrs.uid != uid or attrs.permissions is None
                or not stat.S_ISDIR(attrs.permissions)):
            continue
        try:
            lease_mtime: float | None = float((await sftp.stat(posixpath.join(path, LEASE))).mtime or 0)
        except asyncssh.SFTPError:  # no lease (or none we may read): not ours to judge
            lease_mtime = None
        if is_stale(now, lease_mtime, expiry):
            found.append(path)
    return found

