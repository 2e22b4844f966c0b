"""The hosts of a run, as the user listed them: local workers, SSH hosts (--hostlist) and
the inventory's hosts (--hosts), each with its own settings."""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..hosts import HostSpec, is_local, parse_host
from ..inventory import MOUNTED, HostEntry
from ..settings import Settings
from .base import Transport
from .lease import LeaseTimes
from .local import LocalTransport
from .mounted import MountedTransport
from .ssh import SSHTransport


#: makes the hosts of a run: (settings, local parent dir for local workers) -> transports
TransportFactory = Callable[[Settings, Path], list[Transport]]


def local_workers(s: Settings, parent: Path) -> list[Transport]:
    count = s.local_workers or os.cpu_count() or 1
    return [LocalTransport(parent, ffmpeg=s.ffmpeg, label=f"local{i + 1}" if count > 1 else "local")
            for i in range(count)]


def make_transports(s: Settings, parent: Path) -> list[Transport]:
    """No --hostlist and no --hosts: local workers. `localhost` in the list adds the local
    workers to the fleet; every other entry is an SSH host. `parent` is the job dir's `hosts`
    dir (local workers work in it; mounted hosts share a dir next to the job dir)."""
    entries = s.inventory.enabled if s.inventory is not None else ()
    if not s.hosts and not entries:
        return local_workers(s, parent)
    out: list[Transport] = []
    for text in s.hosts:
        spec = parse_host(text, s.ssh.user)
        if is_local(spec):
            out += local_workers(s, parent)
            continue
        out.append(SSHTransport(spec, remote_workdir=s.ssh.remote_workdir, **_ssh_options(s)))
    for entry in entries:
        out.append(inventory_host(s, entry, parent.parent))
    return out


def inventory_host(s: Settings, entry: HostEntry, job_dir: Path) -> Transport:
    """An inventory entry as a transport; what the entry leaves out comes from the command
    line (--ssh-user, --identity, --remote-ffmpeg, --remote-workdir, --slots), then ssh config."""
    assert s.inventory is not None
    spec = HostSpec(entry.host, entry.user or s.ssh.user, entry.port)
    options = _ssh_options(s, entry)
    t: SSHTransport
    if entry.kind == MOUNTED:
        t = MountedTransport(spec, label=entry.name, source=s.inventory.source, paths=entry.paths,
                             input=s.input, job_dir=job_dir, **options)
    else:
        t = SSHTransport(spec, remote_workdir=entry.workdir or s.ssh.remote_workdir, **options)
    t.label = entry.name  # the status and the report name hosts as the inventory does
    return t


def _ssh_options(s: Settings, entry: HostEntry | None = None) -> dict[str, Any]:
    identity = [os.path.expanduser(entry.identity)] if entry and entry.identity else list(s.ssh.identity)
    return {
        "known_hosts": s.ssh.known_hosts,
        "accept_new_hostkeys": s.ssh.accept_new_hostkeys,
        "client_keys": identity or None,
        "config": list(s.ssh.config) or None,
        "remote_ffmpeg": (entry.ffmpeg if entry else None) or s.ssh.remote_ffmpeg,
        "slots": (entry.slots if entry else None) or s.slots,
        **({"lease": LeaseTimes(*s.ssh.lease)} if s.ssh.lease else {}),
    }
