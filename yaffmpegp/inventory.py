"""The host inventory (`--hosts FILE`): a fleet described once, in TOML, with per-host settings.

    [hosts.h1]                      # the name shown in the status; the ssh host too, unless address is given
    address = "encoder1.lan"        # the ssh host, resolved through ~/.ssh/config
    user = "enc"
    port = 22
    identity = "~/.ssh/id_ed25519"
    ffmpeg = "/usr/bin/ffmpeg"
    workdir = "/var/tmp"            # where the host's private work dir is made
    slots = 2
    enabled = true
    kind = "streaming"              # or "mounted": the host sees --workdir on shared storage
    paths = { "/srv/nas" = "/mnt/nas" }  # mounted hosts: a path prefix here = the same place there

Every key is optional; `[hosts.h1]` alone is a host reached as `h1`. Parsing is pure (no ssh
config lookup, no connection): every mistake is one UsageError naming the file, the host and
the key, before any work.
"""
from __future__ import annotations

import posixpath
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UsageError
from .hosts import parse_host

STREAMING, MOUNTED = "streaming", "mounted"
KINDS = (STREAMING, MOUNTED)
_KEYS = ("address", "user", "port", "identity", "ffmpeg", "workdir", "slots", "enabled", "kind", "paths")


@dataclass(frozen=True)
class HostEntry:
    """One `[hosts.NAME]` table. `None` means: the command line's setting (--ssh-user,
    --identity, --remote-ffmpeg, --remote-workdir, --slots), then ~/.ssh/config."""

    name: str
    address: str | None = None
    user: str | None = None
    port: int | None = None
    identity: str | None = None
    ffmpeg: str | None = None
    workdir: str | None = None
    slots: int | None = None
    enabled: bool = True
    kind: str = STREAMING
    paths: tuple[tuple[str, str], ...] = ()  # (prefix here, the same place there)

    @property
    def host(self) -> str:
        """The ssh host to connect to (an address or an ssh config alias); IPv6 normalized."""
        return parse_host(self.address or self.name).host


@dataclass(frozen=True)
class Inventory:
    source: str  # the file, as the user named it (for messages)
    hosts: tuple[HostEntry, ...]

    @property
    def enabled(self) -> tuple[HostEntry, ...]:
        return tuple(h for h in self.hosts if h.enabled)

    def error(self, host: str, key: str | None, what: str) -> UsageError:
        return inventory_error(self.source, host, key, what)


def inventory_error(source: str, host: str | None, key: str | None, what: str) -> UsageError:
    """One line: `FILE: host NAME: KEY: what`."""
    where = [source]
    if host is not None:
        where.append(f"host {host}")
    if key is not None:
        where.append(key)
    return UsageError(": ".join(where) + f": {what}")


def load_inventory(path: Path) -> Inventory:
    """Read and check an inventory file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise inventory_error(str(path), None, None, "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise inventory_error(str(path), None, None, f"cannot read: {reason}") from None
    return parse_inventory(text, str(path))


def parse_inventory(text: str, source: str) -> Inventory:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise inventory_error(source, None, None, f"invalid TOML: {exc}") from None
    for key in data:
        if key != "hosts":
            raise inventory_error(source, None, key, "unknown key (the file holds [hosts.NAME] tables)")
    hosts = data.get("hosts")
    if not isinstance(hosts, dict) or not hosts:
        raise inventory_error(source, None, None, "no host: describe each as a [hosts.NAME] table")
    return Inventory(source, tuple(_entry(source, name, table) for name, table in hosts.items()))


def _entry(source: str, name: str, table: Any) -> HostEntry:
    def fail(key: str | None, what: str) -> UsageError:
        return inventory_error(source, name, key, what)

    if not isinstance(table, dict):
        raise fail(None, f"must be a table ([hosts.{name}]), not {_type(table)}")
    if not name or not name.isprintable() or any(c.isspace() for c in name):
        raise fail(None, "a host name must be printable, without spaces")
    for key in table:
        if key not in _KEYS:
            raise fail(key, f"unknown key (known: {', '.join(_KEYS)})")
    get = _Getter(table, fail)
    address = get.text("address")
    if address is None:
        _ssh_host(name, fail, None)
    else:
        _ssh_host(address, fail, "address")
    user = get.text("user")
    if user is not None:
        try:
            parse_host(f"{user}@x")
        except UsageError:
            raise fail("user", f"invalid user name {user!r}") from None
    port = get.integer("port")
    if port is not None and not 1 <= port <= 65535:
        raise fail("port", f"{port} is not between 1 and 65535")
    slots = get.integer("slots")
    if slots is not None and slots < 1:
        raise fail("slots", "must be at least 1")
    kind = get.text("kind") or STREAMING
    if kind not in KINDS:
        raise fail("kind", f"{kind!r} is neither \"streaming\" nor \"mounted\"")
    paths = _paths(table.get("paths"), fail)
    if paths and kind != MOUNTED:
        raise fail("paths", 'only a mounted host (kind = "mounted") reads shared paths')
    workdir = get.text("workdir")
    if workdir is not None and kind == MOUNTED:
        raise fail("workdir", "a mounted host works in the shared --workdir; leave this key out")
    return HostEntry(name=name, address=address, user=user, port=port, identity=get.text("identity"),
                     ffmpeg=get.text("ffmpeg"), workdir=workdir, slots=slots,
                     enabled=get.boolean("enabled", True), kind=kind, paths=paths)


class _Getter:
    """Typed reads of a host's keys; a wrong type is the host's error, naming the key."""

    def __init__(self, table: Mapping[str, Any], fail: Any) -> None:
        self.table = table
        self.fail = fail

    def text(self, key: str) -> str | None:
        value = self.table.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, not {_type(value)}")
        if not value.strip() or "\0" in value or not value.isprintable():
            raise self.fail(key, "must be a non-empty, printable string")
        return value

    def integer(self, key: str) -> int | None:
        value = self.table.get(key)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(key, f"must be an integer, not {_type(value)}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.table.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, not {_type(value)}")
        return value


def _ssh_host(text: str, fail: Any, key: str | None) -> None:
    """The ssh host must be a plain host name, address or alias: user and port have their keys."""
    what = "the host name" if key is None else "address"
    try:
        spec = parse_host(text)
    except UsageError as exc:
        raise fail(key, f"{what} is not a valid ssh host ({exc.message})") from None
    if spec.user is not None or spec.port is not None or (not spec.is_ipv6 and spec.host != text):
        raise fail(key, f"{what} {text!r} must be a bare host: give user and port their own keys")


def _paths(value: Any, fail: Any) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise fail("paths", f'must be a table {{ "/prefix/here" = "/prefix/there" }}, not {_type(value)}')
    out = []
    for here, there in value.items():
        if not isinstance(there, str):
            raise fail("paths", f"{here!r} must map to a string, not {_type(there)}")
        for p in (here, there):
            if not p.startswith("/") or "\0" in p:
                raise fail("paths", f"{p!r} is not an absolute path")
        out.append((_clean(here), _clean(there)))
    return tuple(out)


def _clean(path: str) -> str:
    return posixpath.normpath(path) if path != "/" else "/"


def map_path(paths: tuple[tuple[str, str], ...], local: str) -> str:
    """Where a host with these `paths` sees the absolute local path `local`: the longest
    prefix (whole path components) replaced; a path under no prefix is seen where it is."""
    local = _clean(local)
    best: tuple[str, str] | None = None
    for here, there in paths:
        if local == here or local.startswith(here.rstrip("/") + "/"):
            if best is None or len(here) > len(best[0]):
                best = (here, there)
    if best is None:
        return local
    here, there = best
    rest = local[len(here):].lstrip("/")
    return posixpath.join(there, rest) if rest else there


def _type(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
            dict: "a table"}.get(type(value), type(value).__name__)


def check_with_hostlist(inventory: Inventory, hostlist_labels: tuple[str, ...]) -> None:
    """The inventory and --hostlist make one fleet: some host must be enabled, and no name
    may stand for two hosts (the status, the report and the scheduler tell hosts by name)."""
    if not inventory.enabled and not hostlist_labels:
        raise inventory_error(inventory.source, None, None, "every host is disabled (enabled = false)")
    for entry in inventory.enabled:
        if entry.name in hostlist_labels:
            raise inventory_error(inventory.source, entry.name, None, "is also named in --hostlist")
