"""Host specs as users write them on the command line: `[user@]host[:port]`.

Parsing is pure (no DNS, no ssh config lookup): `host` may be a name, an address or an
alias from ~/.ssh/config, which the SSH transport resolves when it connects.

Accepted forms::

    box                 alice@box           box:2222            alice@box:2222
    192.0.2.7           [2001:db8::1]:2222  alice@[::1]:2222    ::1  (bare IPv6, no port)
    [::1]               alice@::1

`localhost` written alone means "this machine's own workers", not SSH (see `is_local`).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .errors import UsageError

LOCALHOST = "localhost"

# Characters that never belong in a host name or user name: whitespace and the separators
# this syntax itself uses. Anything else is passed on untouched (ssh config aliases are free-form).
_FORBIDDEN_HOST = set(" \t\r\n\v\f@/[]")
_FORBIDDEN_USER = set(" \t\r\n\v\f/:[]")


@dataclass(frozen=True)
class HostSpec:
    """One remote host: where to connect and as whom. `None` means "ssh config / default"."""

    host: str
    user: str | None = None
    port: int | None = None

    @property
    def is_ipv6(self) -> bool:
        return ":" in self.host

    @property
    def label(self) -> str:
        """The spec as the user would type it, normalized; `parse_host(label)` gives it back."""
        host = self.host
        if self.port is not None:
            host = f"[{host}]:{self.port}" if self.is_ipv6 else f"{host}:{self.port}"
        return f"{self.user}@{host}" if self.user else host

    def __str__(self) -> str:
        return self.label


def is_local(spec: HostSpec) -> bool:
    """True for `localhost` written alone: run local workers instead of going through SSH.

    `alice@localhost` or `localhost:22` still mean SSH to this machine (as another user,
    or to test the SSH path), because the user asked for them explicitly.
    """
    return spec.host.lower() == LOCALHOST and spec.user is None and spec.port is None


def parse_host(text: str, default_user: str | None = None) -> HostSpec:
    """Parse `[user@]host[:port]`, `[user@][v6addr]:port` or a bare IPv6 address.

    `default_user` applies when the text names no user (but never to a bare `localhost`,
    which means local workers). Raises UsageError naming the offending text.
    """
    raw = text
    text = text.strip()
    if not text:
        raise UsageError("empty host name")

    user: str | None = None
    if "@" in text:
        # Split on the last '@', as OpenSSH does: user names may themselves contain '@'.
        user, _, text = text.rpartition("@")
        _check_user(user, raw)

    host, port = _split_host_port(text, raw)
    _check_host(host, raw)

    if user is None and default_user is not None:
        if not (host.lower() == LOCALHOST and port is None):
            _check_user(default_user, default_user)
            user = default_user
    return HostSpec(host=host, user=user, port=port)


def _split_host_port(text: str, raw: str) -> tuple[str, int | None]:
    """Separate host and port, handling the bracketed and bare IPv6 forms."""
    if text.startswith("["):
        addr, sep, rest = text[1:].partition("]")
        if not sep:
            raise UsageError(f"bad host {raw!r}: missing ']' after IPv6 address")
        if rest and not rest.startswith(":"):
            raise UsageError(f"bad host {raw!r}: unexpected text after ']'")
        return _normalize_ipv6(addr, raw), (_parse_port(rest[1:], raw) if rest else None)
    if text.count(":") > 1:  # bare IPv6: every colon belongs to the address
        return _normalize_ipv6(text, raw), None
    host, sep, port = text.partition(":")
    return host, (_parse_port(port, raw) if sep else None)


def _normalize_ipv6(addr: str, raw: str) -> str:
    try:
        return str(ipaddress.IPv6Address(addr))  # compressed form; keeps a %zone suffix
    except ValueError:
        raise UsageError(f"bad host {raw!r}: {addr!r} is not an IPv6 address") from None


def _parse_port(text: str, raw: str) -> int:
    # int() alone would accept " 22", "+22" and "2_2": require plain digits.
    if not text.isascii() or not text.isdigit():
        raise UsageError(f"bad port in {raw!r}: {text!r} is not a number")
    port = int(text)
    if not 1 <= port <= 65535:
        raise UsageError(f"bad port in {raw!r}: {port} is not between 1 and 65535")
    return port


def _check_host(host: str, raw: str) -> None:
    if not host:
        raise UsageError(f"bad host {raw!r}: no host name")
    if host.startswith("-"):
        raise UsageError(f"bad host {raw!r}: a host name cannot start with '-'")
    if ":" not in host and (_FORBIDDEN_HOST & set(host) or not host.isprintable()):
        raise UsageError(f"bad host {raw!r}: invalid character in host name")


def _check_user(user: str, raw: str) -> None:
    if not user:
        raise UsageError(f"bad host {raw!r}: empty user name before '@'")
    if user.startswith("-") or _FORBIDDEN_USER & set(user) or not user.isprintable():
        raise UsageError(f"bad host {raw!r}: invalid user name {user!r}")
