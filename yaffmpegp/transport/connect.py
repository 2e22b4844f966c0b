"""Opening an SSH connection as OpenSSH would: ~/.ssh/config (and any extra config files),
its known_hosts files checked (a new key accepted only when asked, a changed one never), a
fast cipher unless the config names one, keepalives unless the config sets them, and the
SSH packets of one loop turn written to the socket together (coalesce.py)."""
from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass

import asyncssh

from ..errors import HostError, HostKeyError
from ..hosts import HostSpec
from .coalesce import DirectTunnel
from .hostkeys import HostKeyPolicy, append_known_host, read_known_hosts

# AES-GCM first: on CPU-bound links (loopback, fast LANs) it beat chacha20-poly1305 here.
PREFERRED_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
KEEPALIVE_INTERVAL = 30  # seconds; notices a silently dead peer unless ssh config says otherwise
KEEPALIVE_COUNT_MAX = 3
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"


@dataclass(frozen=True)
class ConnectOptions:
    """`None` means what it means to OpenSSH: the ssh config's choice, else its default."""

    known_hosts: str | None = None
    accept_new: bool = False
    client_keys: list[str] | None = None
    config: list[str] | None = None  # extra ssh config files (~/.ssh/config is always read)
    timeout: float = 15


async def connect(spec: HostSpec, o: ConnectOptions, label: str) -> asyncssh.SSHClientConnection:
    """Connect to `spec`; every failure is a HostError (HostKeyError for keys) naming `label`."""
    kwargs: dict[str, object] = {
        "host": spec.host,
        "port": spec.port if spec.port is not None else (),
        "username": spec.user if spec.user is not None else (),
        "config": o.config if o.config is not None else (),
        "connect_timeout": o.timeout,
    }
    if o.client_keys is not None:
        kwargs["client_keys"] = o.client_keys
    try:
        options = await asyncssh.SSHClientConnectionOptions.construct(**kwargs)
        known_files = _known_hosts_files(o, options)
        trusted = read_known_hosts(known_files)
    except (OSError, ValueError, asyncssh.Error) as exc:
        raise HostError(f"bad ssh settings: {exc}", host=label) from exc

    policy = HostKeyPolicy(trusted, accept_new=o.accept_new)
    extra: dict[str, object] = {}
    if options.config.get("Ciphers") is None:  # the user's ssh config wins
        extra["encryption_algs"] = _preferred_ciphers()
    if options.config.get("ServerAliveInterval") is None:
        extra.update(keepalive_interval=KEEPALIVE_INTERVAL, keepalive_count_max=KEEPALIVE_COUNT_MAX)
    if not options.tunnel and not options.proxy_command:  # a ProxyJump or ProxyCommand: asyncssh's own way
        extra["tunnel"] = DirectTunnel(options.family, options.local_addr)
    try:
        async with asyncio.timeout(o.timeout + 5):
            conn = await asyncssh.connect(
                spec.host, kwargs["port"], options=options, config=None, known_hosts=trusted,
                client_factory=lambda: policy, **extra,
            )
    except asyncssh.HostKeyNotVerifiable as exc:
        raise HostKeyError(policy.refusal(known_files), host=label) from exc
    except asyncssh.PermissionDenied as exc:
        raise HostError(f"authentication failed: {exc.reason}", host=label) from exc
    except asyncssh.DisconnectError as exc:
        raise HostError(f"cannot connect: {exc.reason}", host=label) from exc
    except TimeoutError as exc:
        raise HostError(f"cannot connect: timed out after {o.timeout:g} s",
                        host=label) from exc
    except OSError as exc:
        raise HostError(f"cannot connect: {os_reason(exc)}", host=label) from exc
    except (asyncssh.Error, ValueError) as exc:
        raise HostError(f"cannot connect: {exc}", host=label) from exc

    if policy.accepted is not None:
        try:
            append_known_host(known_files[0], *policy.accepted)
        except OSError as exc:
            conn.close()
            raise HostKeyError(f"cannot record the new host key in {known_files[0]}: {exc}",
                               host=label) from exc
    return conn


def _known_hosts_files(o: ConnectOptions, options: asyncssh.SSHClientConnectionOptions) -> list[str]:
    """The known_hosts files in force; new keys are appended to the first, as OpenSSH does."""
    if o.known_hosts is not None:
        files = [o.known_hosts]
    else:
        from_config = options.known_hosts  # (): not set; list: UserKnownHostsFile...; None: "none"
        files = [str(f) for f in from_config] if from_config else [DEFAULT_KNOWN_HOSTS]
    return [os.path.expanduser(f) for f in files]


def os_reason(exc: OSError) -> str:
    """An OS error as a user reads it."""
    if isinstance(exc, socket.gaierror):
        return str(exc.strerror)  # "Name or service not known"
    if exc.errno and exc.errno > 0:
        return os.strerror(exc.errno)  # "Connection refused", not "Connect call failed (...)"
    return str(exc)


def _preferred_ciphers() -> list[str]:
    defaults = [alg.decode() for alg in asyncssh.encryption.get_default_encryption_algs()]
    return [c for c in PREFERRED_CIPHERS if c in defaults] + [
        c for c in defaults if c not in PREFERRED_CIPHERS]
