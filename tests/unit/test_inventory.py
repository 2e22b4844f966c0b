"""The host inventory (--hosts FILE): every accepted shape, and one clear line for every
mistake, naming the file, the host and the key."""
from __future__ import annotations

from pathlib import Path

import pytest

from yaffmpegp.errors import ExitCode, UsageError
from yaffmpegp.inventory import (MOUNTED, STREAMING, HostEntry, Inventory, check_with_hostlist,
                                 load_inventory, map_path, parse_inventory)

EXAMPLE = Path(__file__).parents[2] / "examples" / "hosts.toml"


def test_the_issue_s_full_entry() -> None:
    inv = parse_inventory('''
[hosts.h1]
address = "encoder1.lan"
user = "enc"
port = 22
identity = "~/.ssh/id_ed25519"
ffmpeg = "/usr/bin/ffmpeg"
workdir = "/var/tmp"
slots = 2
enabled = true
kind = "streaming"
''', "inv.toml")
    assert inv == Inventory("inv.toml", (HostEntry(
        "h1", address="encoder1.lan", user="enc", port=22, identity="~/.ssh/id_ed25519",
        ffmpeg="/usr/bin/ffmpeg", workdir="/var/tmp", slots=2, enabled=True, kind=STREAMING),))
    assert inv.hosts[0].host == "encoder1.lan"


def test_an_entry_without_keys_is_the_ssh_host_of_its_name() -> None:
    inv = parse_inventory("[hosts.h1]\n[hosts.\"box.lan\"]\n", "f")
    assert inv.hosts == (HostEntry("h1"), HostEntry("box.lan"))
    assert [h.host for h in inv.hosts] == ["h1", "box.lan"]
    assert inv.hosts[0].slots is None and inv.hosts[0].kind == STREAMING and inv.hosts[0].enabled


def test_disabled_hosts_are_kept_but_not_enabled() -> None:
    inv = parse_inventory("[hosts.a]\n[hosts.b]\nenabled = false\n", "f")
    assert [h.name for h in inv.hosts] == ["a", "b"]
    assert [h.name for h in inv.enabled] == ["a"]


def test_mounted_host_with_paths() -> None:
    inv = parse_inventory('[hosts.nas]\nkind = "mounted"\npaths = { "/srv/nas/" = "/mnt/nas" }\n', "f")
    assert inv.hosts[0].kind == MOUNTED
    assert inv.hosts[0].paths == (("/srv/nas", "/mnt/nas"),)


def test_ipv6_address() -> None:
    inv = parse_inventory('[hosts.v6]\naddress = "2001:DB8::1"\n', "f")
    assert inv.hosts[0].host == "2001:db8::1"


def test_the_example_file_parses() -> None:
    inv = load_inventory(EXAMPLE)
    assert {h.name: h.kind for h in inv.hosts} == {
        "h1": STREAMING, "studio-pc": STREAMING, "old-laptop": STREAMING, "nas-box": MOUNTED}
    assert [h.name for h in inv.hosts if not h.enabled] == ["old-laptop"]


@pytest.mark.parametrize(
    ("text", "host", "key", "fragment"),
    [
        ("[hosts.h1]\nadress = \"x\"\n", "h1", "adress", "unknown key"),
        ("[hosts.h1]\nport = \"22\"\n", "h1", "port", "must be an integer, not a string"),
        ("[hosts.h1]\nport = 0\n", "h1", "port", "between 1 and 65535"),
        ("[hosts.h1]\nport = 70000\n", "h1", "port", "between 1 and 65535"),
        ("[hosts.h1]\nslots = true\n", "h1", "slots", "must be an integer, not a boolean"),
        ("[hosts.h1]\nslots = 0\n", "h1", "slots", "at least 1"),
        ("[hosts.h1]\nslots = 1.5\n", "h1", "slots", "not a number"),
        ("[hosts.h1]\nenabled = \"yes\"\n", "h1", "enabled", "true or false"),
        ("[hosts.h1]\nenabled = 1\n", "h1", "enabled", "true or false"),
        ("[hosts.h1]\nuser = 5\n", "h1", "user", "must be a string"),
        ("[hosts.h1]\nuser = \"\"\n", "h1", "user", "non-empty"),
        ("[hosts.h1]\nuser = \"a b\"\n", "h1", "user", "invalid user name"),
        ("[hosts.h1]\nffmpeg = [\"ffmpeg\"]\n", "h1", "ffmpeg", "not an array"),
        ("[hosts.h1]\nidentity = 1\n", "h1", "identity", "must be a string"),
        ("[hosts.h1]\nworkdir = false\n", "h1", "workdir", "must be a string"),
        ("[hosts.h1]\naddress = \"enc@box\"\n", "h1", "address", "bare host"),
        ("[hosts.h1]\naddress = \"box:22\"\n", "h1", "address", "bare host"),
        ("[hosts.h1]\naddress = \"-oProxyCommand=x\"\n", "h1", "address", "not a valid ssh host"),
        ("[hosts.\"enc@box\"]\n", "enc@box", None, "bare host"),
        ("[hosts.\"a b\"]\naddress = \"x\"\n", "a b", None, "without spaces"),
        ("[hosts.h1]\nkind = \"nfs\"\n", "h1", "kind", "neither"),
        ("[hosts.h1]\nkind = 1\n", "h1", "kind", "must be a string"),
        ("[hosts.h1]\npaths = { \"/a\" = \"/b\" }\n", "h1", "paths", "only a mounted host"),
        ("[hosts.h1]\nkind = \"mounted\"\npaths = \"/a\"\n", "h1", "paths", "must be a table"),
        ("[hosts.h1]\nkind = \"mounted\"\npaths = { \"a\" = \"/b\" }\n", "h1", "paths", "not an absolute path"),
        ("[hosts.h1]\nkind = \"mounted\"\npaths = { \"/a\" = 3 }\n", "h1", "paths", "must map to a string"),
        ("[hosts.h1]\nkind = \"mounted\"\nworkdir = \"/x\"\n", "h1", "workdir", "shared --workdir"),
        ("hosts = 3\n", None, None, "no host"),
        ("[hosts]\n", None, None, "no host"),
        ("", None, None, "no host"),
        ("[host.h1]\n", None, "host", "unknown key"),
        ("[hosts]\nh1 = 3\n", "h1", None, "must be a table"),
        ("[hosts.h1]\nport = \n", None, None, "invalid TOML"),
        ("[hosts.h1]\n[hosts.h1]\n", None, None, "invalid TOML"),
    ],
)
def test_mistakes_are_one_line_naming_file_host_and_key(text: str, host: str | None, key: str | None,
                                                         fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_inventory(text, "fleet.toml")
    message = str(info.value)
    assert info.value.exit_code == ExitCode.USAGE
    assert "\n" not in message
    assert message.startswith("fleet.toml: ")
    if host is not None:
        assert f"host {host}: " in message, message
    if key is not None:
        assert f": {key}: " in message, message
    assert fragment in message, message


def test_invalid_toml_says_where() -> None:
    with pytest.raises(UsageError, match=r"fleet\.toml: invalid TOML: .*line 2"):
        parse_inventory("[hosts.h1]\nport = = 2\n", "fleet.toml")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"nope\.toml: no such file"):
        load_inventory(tmp_path / "nope.toml")


def test_every_host_disabled_and_no_hostlist() -> None:
    inv = parse_inventory("[hosts.a]\nenabled = false\n", "f.toml")
    with pytest.raises(UsageError, match=r"^f\.toml: every host is disabled"):
        check_with_hostlist(inv, ())
    check_with_hostlist(inv, ("box",))  # the hostlist's hosts remain


def test_a_name_also_in_the_hostlist() -> None:
    inv = parse_inventory("[hosts.h1]\n[hosts.h2]\nenabled = false\n", "f.toml")
    with pytest.raises(UsageError, match=r"^f\.toml: host h1: is also named in --hostlist"):
        check_with_hostlist(inv, ("h1",))
    check_with_hostlist(inv, ("h2", "h3"))  # a disabled entry is not in the fleet


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        ("/srv/nas/work/x.mkv", "/mnt/nas/work/x.mkv"),
        ("/srv/nas", "/mnt/nas"),
        ("/srv/nas/", "/mnt/nas"),
        ("/srv/nasty/x", "/srv/nasty/x"),  # whole components only
        ("/srv/nas/deep/a", "/a"),  # the longest prefix wins
        ("/home/u/x", "/home/u/x"),  # under no prefix: the same path
        ("/srv/nas/./work/../x", "/mnt/nas/x"),
    ],
)
def test_map_path(local: str, expected: str) -> None:
    paths = (("/srv/nas", "/mnt/nas"), ("/srv/nas/deep", "/"))
    assert map_path(paths, local) == expected
