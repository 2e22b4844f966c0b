"""Host keys, as OpenSSH checks them: known_hosts decides; an unknown key may be accepted
only when asked (accept-new), a changed key never."""
from __future__ import annotations

import os
from pathlib import Path

import asyncssh


class HostKeyPolicy(asyncssh.SSHClient):
    """Called by asyncssh only for a host key that known_hosts does not list for this host.

    Tells "unknown" (no entry for the host) from "changed" (entries, none matching): only an
    unknown key may be accepted, and only with accept-new. The key is recorded after the
    connection succeeds, i.e. after the server proved it holds the private key.
    """

    def __init__(self, trusted: asyncssh.SSHKnownHosts, *, accept_new: bool) -> None:
        super().__init__()
        self._trusted = trusted
        self._accept_new = accept_new
        self.changed = False
        self.accepted: tuple[str, int, asyncssh.SSHKey] | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        keys, ca_keys, *_ = self._trusted.match(host, addr, port if port != 22 else None)
        if keys or ca_keys:
            self.changed = True
            return False
        if self._accept_new:
            self.accepted = (host, port, key)
            return True
        return False

    def refusal(self, files: list[str]) -> str:
        where = ", ".join(files)
        if self.changed:
            return (f"HOST KEY CHANGED: the key offered does not match {where} "
                    "(someone may be intercepting; fix known_hosts if the host was reinstalled)")
        return f"unknown host key: not in {where} (connect once with ssh, or accept new host keys)"


def read_known_hosts(files: list[str]) -> asyncssh.SSHKnownHosts:
    """Trusted keys from the files that exist (a missing known_hosts trusts nothing)."""
    existing = [f for f in files if os.path.isfile(f)]
    return asyncssh.read_known_hosts(existing) if existing else asyncssh.import_known_hosts("")


def append_known_host(path: str, host: str, port: int, key: asyncssh.SSHKey) -> None:
    """Add `host key` to a known_hosts file in OpenSSH's format (`[host]:port` off port 22)."""
    pattern = host if port == 22 else f"[{host}]:{port}"
    algorithm, blob = key.export_public_key("openssh").decode().split()[:2]
    Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a+b") as f:
        f.seek(0, os.SEEK_END)
        lead = b""
        if f.tell():
            f.seek(-1, os.SEEK_END)
            lead = b"" if f.read(1) == b"\n" else b"\n"
        f.write(lead + f"{pattern} {algorithm} {blob}\n".encode())
