"""Host specs as users type them: every accepted form, and clear errors for garbage."""
from __future__ import annotations

import pytest

from yaffmpegp.errors import ExitCode, UsageError
from yaffmpegp.hosts import HostSpec, is_local, parse_host


@pytest.mark.parametrize(
    ("text", "expected", "label"),
    [
        ("box", HostSpec("box", None, None), "box"),
        ("alice@box", HostSpec("box", "alice", None), "alice@box"),
        ("box:2222", HostSpec("box", None, 2222), "box:2222"),
        ("alice@box:2222", HostSpec("box", "alice", 2222), "alice@box:2222"),
        ("192.0.2.7:22", HostSpec("192.0.2.7", None, 22), "192.0.2.7:22"),
        ("box.example.org", HostSpec("box.example.org", None, None), "box.example.org"),
        ("[::1]:2222", HostSpec("::1", None, 2222), "[::1]:2222"),
        ("alice@[::1]:2222", HostSpec("::1", "alice", 2222), "alice@[::1]:2222"),
        ("[2001:db8::1]", HostSpec("2001:db8::1", None, None), "2001:db8::1"),
        ("::1", HostSpec("::1", None, None), "::1"),
        ("alice@::1", HostSpec("::1", "alice", None), "alice@::1"),
        ("2001:DB8:0:0::0001", HostSpec("2001:db8::1", None, None), "2001:db8::1"),
        ("fe80::1%eth0", HostSpec("fe80::1%eth0", None, None), "fe80::1%eth0"),
        ("  alice@box:22  ", HostSpec("box", "alice", 22), "alice@box:22"),
        ("ad@corp@box", HostSpec("box", "ad@corp", None), "ad@corp@box"),
        ("h1", HostSpec("h1", None, None), "h1"),  # an ssh config alias
        ("box:65535", HostSpec("box", None, 65535), "box:65535"),
    ],
)
def test_accepted_forms(text: str, expected: HostSpec, label: str) -> None:
    spec = parse_host(text)
    assert spec == expected
    assert spec.label == label
    assert parse_host(spec.label) == spec  # the label round-trips


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("box:", "not a number"),
        ("box:ssh", "not a number"),
        ("box:0", "between 1 and 65535"),
        ("box:65536", "between 1 and 65535"),
        ("box:+22", "not a number"),
        ("box:２２", "not a number"),  # full-width digits pass str.isdigit()
        (":22", "no host name"),
        ("alice@", "no host name"),
        ("@box", "empty user"),
        ("ali ce@box", "invalid user"),
        ("-oProxyCommand=x", "start with '-'"),
        ("-l@box", "invalid user"),
        ("my box", "invalid character"),
        ("box/x", "invalid character"),
        ("[::1", "missing ']'"),
        ("[::1]22", "after ']'"),
        ("[box]:22", "not an IPv6"),
        ("::g", "not an IPv6"),
        ("[::1]:", "not a number"),
    ],
)
def test_garbage_is_a_usage_error(text: str, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_host(text)
    assert fragment in str(info.value)
    assert info.value.exit_code == ExitCode.USAGE


def test_error_names_the_text() -> None:
    with pytest.raises(UsageError, match="'box:99999'"):
        parse_host("box:99999")


def test_default_user_applies_only_when_none_given() -> None:
    assert parse_host("box", default_user="bob") == HostSpec("box", "bob", None)
    assert parse_host("alice@box", default_user="bob") == HostSpec("box", "alice", None)
    assert parse_host("[::1]:22", default_user="bob").label == "bob@[::1]:22"


def test_localhost_alone_means_local_workers() -> None:
    assert is_local(parse_host("localhost"))
    assert is_local(parse_host("LocalHost"))
    # A default user does not turn plain "localhost" into an SSH host.
    assert is_local(parse_host("localhost", default_user="bob"))
    assert not is_local(parse_host("alice@localhost"))
    assert not is_local(parse_host("localhost:22"))
    assert not is_local(parse_host("127.0.0.1"))
    assert not is_local(parse_host("::1"))


def test_spec_is_frozen_and_hashable() -> None:
    spec = parse_host("alice@box:22")
    with pytest.raises(AttributeError):
        spec.port = 23  # type: ignore[misc]
    assert len({spec, parse_host("alice@box:22")}) == 1
    assert str(spec) == "alice@box:22"
