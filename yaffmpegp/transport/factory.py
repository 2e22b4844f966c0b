"""The hosts of a run, as the user listed them: local workers and SSH hosts."""
from __future__ import annotations

import os
from pathlib import Path

from ..hosts import is_local, parse_host
from ..settings import Settings
from .base import Transport
from .lease import LeaseTimes
from .local import LocalTransport
from .ssh import SSHTransport


def local_workers(s: Settings, parent: Path) -> list[Transport]:
    count = s.local_workers or os.cpu_count() or 1
    return [LocalTransport(parent, ffmpeg=s.ffmpeg, label=f"local{i + 1}" if count > 1 else "local")
            for i in range(count)]


def make_transports(s: Settings, parent: Path) -> list[Transport]:
    """No --hostlist: local workers. `localhost` in the list adds the local workers to the
    fleet; every other entry is an SSH host."""
    if not s.hosts:
        return local_workers(s, parent)
    out: list[Transport] = []
    for text in s.hosts:
        spec = parse_host(text, s.ssh.user)
        if is_local(spec):
            out += local_workers(s, parent)
            continue
        out.append(SSHTransport(
            spec,
            known_hosts=s.ssh.known_hosts,
            accept_new_hostkeys=s.ssh.accept_new_hostkeys,
            client_keys=list(s.ssh.identity) or None,
            config=list(s.ssh.config) or None,
            remote_workdir=s.ssh.remote_workdir,
            remote_ffmpeg=s.ssh.remote_ffmpeg,
            slots=s.slots,
            **({"lease": LeaseTimes(*s.ssh.lease)} if s.ssh.lease else {}),
        ))
    return out
