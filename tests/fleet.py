"""A real fleet of OpenSSH servers on 127.0.0.1, for tests and for trying yaffmpegp by hand.

Each host is its own `/usr/sbin/sshd -D` on a free port, with its own host key and its own
unix user (`yaff-h1`, `yaff-h2`, ...), so hosts see only their own files, as separate machines
would: the coordinator's files (root, mode 700) are unreadable to them. The coordinator logs
in with one key pair kept in a root-only dir; a known_hosts file and an ssh config
(`Host h1` → 127.0.0.1:PORT, user, key, known_hosts) let callers say `h1 h2 h3`.

Sessions get, through sshd `SetEnv`:
- `TMPDIR=~/fleet-ID/tmp`, so transports that default to `$TMPDIR` work in a dir we can
  inspect for leftovers;
- `YAFF_FLEET=ID`, which marks every process started through this fleet, so a fleet finds
  (and kills) its own processes even after they were reparented, and never another's;
- on hosts started without ffmpeg, `PATH` = a dir of symlinks to a few tools, not ffmpeg.
ID is derived from the base dir: two fleets (two test sessions) can share the unix users
without touching each other's keys, files or processes.

`Fleet.start(..., netns=[(namespace, address), ...])` runs hosts' sshd inside network
namespaces a caller made (bench/link.py: shaped links), listening on those addresses.

Needs root (useradd, sshd). No pytest here: `tests/integration/conftest_fleet.py` wraps it.

    python -m tests.fleet up DIR     # 3 hosts, prints the ssh config and an example command
    python -m tests.fleet down DIR
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

SSHD = "/usr/sbin/sshd"
USER_PREFIX = "yaff-h"
STATE_FILE = "fleet.json"
OWNER_FILE = "owner"  # in ~/fleet-ID: the base dir of the fleet that made it
START_TIMEOUT = 10.0  # seconds for one sshd to accept connections
STOP_GRACE = 2.0  # seconds between SIGTERM and SIGKILL
# What a host without ffmpeg still offers on PATH: a shell and the tools transports use.
BARE_TOOLS = ("sh", "bash", "env", "cat", "ls", "mkdir", "mktemp", "rm", "mv", "sleep", "wc",
              "sha1sum", "kill", "ps", "true", "false", "uname", "id")


class FleetError(RuntimeError):
    """The fleet could not be started (sshd refused its config, a port never opened...)."""


@dataclass
class FleetHost:
    """One sshd and its unix user. `index` is 1-based; `name` is its ssh config alias."""

    index: int
    name: str
    user: str
    port: int
    dir: str  # root-only: sshd_config, host key, pid file, log
    home: str
    area: str  # ~/fleet-ID: this fleet's files in the user's home (tmp/, bin/)
    tmpdir: str  # the sessions' $TMPDIR
    has_ffmpeg: bool
    host_key: str  # "ssh-ed25519 AAAA..." (public)
    env: list[str]  # sshd SetEnv for its sessions
    pid: int | None = None
    address: str = "127.0.0.1"  # where its sshd listens
    netns: str | None = None  # the network namespace its sshd runs in (`ip netns exec`)

    @property
    def spec(self) -> str:
        """`user@address:port`, for callers that do not use the ssh config."""
        return f"{self.user}@{self.address}:{self.port}"

    @property
    def uid(self) -> int:
        return pwd.getpwnam(self.user).pw_uid


class Fleet:
    """Start with `Fleet().start(3, base_dir)` or as a context manager; `stop()` undoes it."""

    def __init__(self) -> None:
        self.base_dir: Path | None = None
        self.hosts: list[FleetHost] = []
        self._procs: dict[int, subprocess.Popen[bytes]] = {}  # sshd started by this process

    # ----- files callers use -------------------------------------------------------------

    @property
    def ssh_config(self) -> Path:
        return self._base / "ssh_config"

    @property
    def known_hosts(self) -> Path:
        return self._base / "known_hosts"

    @property
    def wrong_known_hosts(self) -> Path:
        """known_hosts in which host 1 has another key: connecting to h1 must be refused."""
        return self._base / "known_hosts_wrong"

    @property
    def client_key(self) -> Path:
        return self._base / "client" / "id_ed25519"

    @property
    def stranger_key(self) -> Path:
        """A key pair no host authorizes (and whose public half is host 1's wrong key)."""
        return self._base / "impostor_key"

    @property
    def names(self) -> list[str]:
        """Aliases of the hosts that have ffmpeg: what a job's --hostlist would name."""
        return [h.name for h in self.hosts if h.has_ffmpeg]

    @property
    def bare_names(self) -> list[str]:
        """Aliases of the hosts started without ffmpeg on PATH."""
        return [h.name for h in self.hosts if not h.has_ffmpeg]

    @property
    def id(self) -> str:
        return hashlib.sha256(str(self._base).encode()).hexdigest()[:10]

    def host(self, i: int | str) -> FleetHost:
        """A host by 1-based index or by name."""
        for h in self.hosts:
            if h.index == i or h.name == i:
                return h
        raise KeyError(i)

    @property
    def _base(self) -> Path:
        if self.base_dir is None:
            raise FleetError("fleet not started")
        return self.base_dir

    # ----- lifecycle ---------------------------------------------------------------------

    def start(self, n: int, base_dir: str | Path, *, without_ffmpeg: int = 0,
              netns: Sequence[tuple[str, str]] = ()) -> Fleet:
        """Start `n` hosts with ffmpeg, then `without_ffmpeg` hosts without it.

        `netns`: (namespace, address) for the first hosts, in order: that host's sshd runs in
        the (existing) network namespace and listens on the address, which must be reachable
        from here (the bench's shaped links); the other hosts listen on 127.0.0.1."""
        if os.geteuid() != 0:
            raise FleetError("the fleet needs root (useradd, sshd)")
        self.base_dir = Path(base_dir).resolve()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.base_dir, 0o700)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privsep dir
        try:
            self._make_keys()
            for i in range(1, n + without_ffmpeg + 1):
                h = self._make_host(i, has_ffmpeg=i <= n)
                if i <= len(netns):
                    h.netns, h.address = netns[i - 1]
                self.hosts.append(h)
                self._start_sshd(h, new_port=True)
            self._write_client_files()
            self._save()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Kill our sshd and every process started through it; remove our key and files."""
        for h in self.hosts:
            self._kill(h, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        while time.monotonic() < deadline and any(self._host_pids(h) for h in self.hosts):
            time.sleep(0.05)
        for h in self.hosts:
            self._kill(h, signal.SIGKILL)
            h.pid = None
            with contextlib.suppress(OSError):
                self._unauthorize(h)
            shutil.rmtree(h.area, ignore_errors=True)
        if self.base_dir is not None and self.hosts:
            self._save()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @classmethod
    def load(cls, base_dir: str | Path) -> Fleet:
        """The fleet described by `base_dir/fleet.json` (to stop one started by another process)."""
        fleet = cls()
        fleet.base_dir = Path(base_dir).resolve()
        state = json.loads((fleet.base_dir / STATE_FILE).read_text())
        fleet.hosts = [FleetHost(**h) for h in state["hosts"]]
        return fleet

    # ----- fault injection and inspection ------------------------------------------------

    def kill_host(self, i: int | str) -> None:
        """Crash a host: SIGKILL its sshd, every connection it serves and everything it started."""
        h = self.host(i)
        self._kill(h, signal.SIGKILL)
        h.pid = None

    def restart_host(self, i: int | str) -> None:
        """Start a killed host again, same port and key."""
        h = self.host(i)
        if h.pid is None or not _alive(h.pid):
            self._start_sshd(h)
            self._save()

    def host_processes(self, i: int | str, name: str | None = None) -> list[int]:
        """Pids of the processes this fleet started on that host (only those called `name`)."""
        h = self.host(i)
        return [pid for pid, uid, comm in _processes(self._marker)
                if uid == h.uid and name in (None, comm)]

    def encoding_processes(self, i: int | str) -> list[int]:
        """Pids of yaffmpegp's segment encodes on that host (ffmpeg reporting -progress), not
        its start-up checks."""
        pids = []
        for pid in self.host_processes(i, "ffmpeg"):
            try:
                if b"-progress" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    pids.append(pid)
            except OSError:
                pass
        return pids

    def workdir_leftovers(self, i: int | str) -> list[Path]:
        """Whatever was left in the host's $TMPDIR, and the user's entries in /tmp."""
        h = self.host(i)
        found = sorted(Path(h.tmpdir).iterdir())
        for entry in Path("/tmp").iterdir():
            with contextlib.suppress(OSError):
                if entry.lstat().st_uid == h.uid:
                    found.append(entry)
        return found

    def run_as(self, i: int | str, *argv: str) -> subprocess.CompletedProcess[str]:
        """Run a command locally as the host's user (e.g. to prove what it cannot read)."""
        user = self.host(i).user
        return subprocess.run(["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups",
                               "--", *argv], capture_output=True, text=True, timeout=30, check=False)

    # ----- building a host ---------------------------------------------------------------

    @property
    def _marker(self) -> str:
        return f"YAFF_FLEET={self.id}"

    @property
    def _tag(self) -> str:
        """Marks our authorized_keys line, so fleets with other base dirs keep theirs."""
        return f"yaffmpegp-fleet:{self._base}"

    def _make_keys(self) -> None:
        key_dir = self.client_key.parent
        key_dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(key_dir, 0o700)
        if not self.client_key.exists():
            _keygen(self.client_key, "yaffmpegp-fleet-client")
        if not self.stranger_key.exists():
            _keygen(self.stranger_key, "stranger")

    def _make_host(self, i: int, *, has_ffmpeg: bool) -> FleetHost:
        user = f"{USER_PREFIX}{i}"
        _ensure_user(user)
        pw = pwd.getpwnam(user)
        home = Path(pw.pw_dir)
        _forget_dead_fleets(home)
        host_dir = self._base / f"h{i}"
        host_dir.mkdir(mode=0o700, exist_ok=True)
        key = host_dir / "ssh_host_ed25519_key"
        if not key.exists():
            _keygen(key, f"h{i}")
        area = home / f"fleet-{self.id}"
        _user_dir(area, pw, clean=True)
        (area / OWNER_FILE).write_text(str(self._base))
        tmpdir = area / "tmp"
        _user_dir(tmpdir, pw)
        env = [f"TMPDIR={tmpdir}", self._marker]
        if not has_ffmpeg:
            env.append(f"PATH={_bare_bin(area / 'bin')}")
        h = FleetHost(index=i, name=f"h{i}", user=user, port=0, dir=str(host_dir), home=str(home),
                      area=str(area), tmpdir=str(tmpdir), has_ffmpeg=has_ffmpeg,
                      host_key=_public(key.with_suffix(".pub")), env=env)
        self._authorize(pw)
        return h

    def _write_sshd_config(self, h: FleetHost) -> None:
        Path(h.dir, "sshd_config").write_text(
            f"""# written by tests/fleet.py for fleet host {h.name}
Port {h.port}
ListenAddress {h.address}
HostKey {h.dir}/ssh_host_ed25519_key
PidFile {h.dir}/sshd.pid
AllowUsers {h.user}
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
AllowTcpForwarding no
AllowAgentForwarding no
X11Forwarding no
PrintMotd no
SetEnv {' '.join(h.env)}
Subsystem sftp internal-sftp
""")

    def _authorize(self, pw: pwd.struct_passwd) -> None:
        """Add our client key to the user's authorized_keys (other lines kept), modes right."""
        ssh_dir = Path(pw.pw_dir) / ".ssh"
        _user_dir(ssh_dir, pw)
        auth = ssh_dir / "authorized_keys"
        line = f"restrict {_public(self.client_key.with_suffix('.pub'))} {self._tag}\n"
        kept = [ln for ln in _lines(auth) if self._tag not in ln and not _dead_tag(ln)]
        auth.write_text("".join(kept) + line)
        os.chown(auth, pw.pw_uid, pw.pw_gid)
        os.chmod(auth, 0o600)

    def _unauthorize(self, h: FleetHost) -> None:
        auth = Path(h.home) / ".ssh" / "authorized_keys"
        if auth.exists():
            auth.write_text("".join(ln for ln in _lines(auth) if self._tag not in ln))

    def _write_client_files(self) -> None:
        lines = [f"[{h.address}]:{h.port} {h.host_key}\n" for h in self.hosts]
        self.known_hosts.write_text("".join(lines))
        stranger = _public(self.stranger_key.with_suffix(".pub"))
        wrong = [f"[{h.address}]:{h.port} {stranger}\n" if h.index == 1 else line
                 for h, line in zip(self.hosts, lines)]
        self.wrong_known_hosts.write_text("".join(wrong))
        blocks = [
            f"Host {h.name}\n"
            f"    HostName {h.address}\n"
            f"    Port {h.port}\n"
            f"    User {h.user}\n"
            f"    IdentityFile {self.client_key}\n"
            f"    IdentitiesOnly yes\n"
            f"    UserKnownHostsFile {self.known_hosts}\n"
            for h in self.hosts
        ]
        self.ssh_config.write_text("# written by tests/fleet.py\n" + "\n".join(blocks))

    # ----- processes ---------------------------------------------------------------------

    def _start_sshd(self, h: FleetHost, *, new_port: bool = False) -> None:
        """Start the host's sshd and wait until it accepts connections.

        With `new_port`, pick a free port first, and pick another if a concurrent process took
        it between our check and sshd's bind.
        """
        for attempt in range(3):
            if new_port:
                h.port = _free_port()
                self._write_sshd_config(h)
            try:
                self._spawn_sshd(h)
                return
            except FleetError:
                if not new_port or attempt == 2 or "Bind to port" not in self._log(h):
                    raise

    def _log(self, h: FleetHost) -> str:
        return Path(h.dir, "sshd.log").read_text(errors="replace")[-2000:]

    def _spawn_sshd(self, h: FleetHost) -> None:
        config = Path(h.dir, "sshd_config")
        inside = ["ip", "netns", "exec", h.netns] if h.netns else []  # execs sshd: same pid
        log = open(Path(h.dir, "sshd.log"), "ab")  # noqa: SIM115 - handed to the child
        try:
            proc = subprocess.Popen(
                [*inside, SSHD, "-D", "-e", "-f", str(config)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True,  # survives `python -m tests.fleet up` exiting
            )
        finally:
            log.close()
        h.pid = proc.pid
        self._procs[h.index] = proc
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                h.pid = None
                raise FleetError(f"sshd for {h.name} exited ({proc.returncode}):\n{self._log(h)}")
            with contextlib.suppress(OSError), socket.create_connection((h.address, h.port), 0.2):
                return
            time.sleep(0.02)
        raise FleetError(f"sshd for {h.name} did not accept connections on port {h.port}")

    def _host_pids(self, h: FleetHost) -> list[int]:
        """The host's sshd, every process below it, and every process it started (marked)."""
        pids = set(self.host_processes(h.index))
        if h.pid is not None and _alive(h.pid):
            pids |= _descendants(h.pid) | {h.pid}
        return sorted(pids)

    def _kill(self, h: FleetHost, sig: signal.Signals) -> None:
        for pid in self._host_pids(h):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        proc = self._procs.get(h.index)
        if proc is not None and sig == signal.SIGKILL:
            proc.wait(timeout=5)  # reap it: no zombie, no "still running" warning
            del self._procs[h.index]

    def _save(self) -> None:
        state = {"hosts": [asdict(h) for h in self.hosts]}
        (self._base / STATE_FILE).write_text(json.dumps(state, indent=2))


# ----- helpers ---------------------------------------------------------------------------


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                   check=True, stdin=subprocess.DEVNULL)


def _public(pub_path: Path) -> str:
    """`ssh-ed25519 AAAA...` without the comment."""
    return " ".join(pub_path.read_text().split()[:2])


def _ensure_user(user: str) -> None:
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        subprocess.run(["useradd", "-m", "-s", "/bin/bash", user], check=True, capture_output=True)
        pw = pwd.getpwnam(user)
    # With `UsePAM no` sshd refuses locked accounts ('!' password): '*' = no password, not locked.
    subprocess.run(["usermod", "-p", "*", user], check=True, capture_output=True)
    os.chmod(pw.pw_dir, 0o700)


def _user_dir(path: Path, pw: pwd.struct_passwd, *, clean: bool = False) -> None:
    if clean and path.exists():
        shutil.rmtree(path)
    path.mkdir(mode=0o700, exist_ok=True)
    os.chown(path, pw.pw_uid, pw.pw_gid)
    os.chmod(path, 0o700)


def _forget_dead_fleets(home: Path) -> None:
    """Remove ~/fleet-* areas whose fleet's base dir is gone (a session that crashed)."""
    for area in home.glob("fleet-*"):
        owner = area / OWNER_FILE
        with contextlib.suppress(OSError):
            if not owner.exists() or not Path(owner.read_text().strip()).exists():
                shutil.rmtree(area, ignore_errors=True)


def _dead_tag(line: str) -> bool:
    """An authorized_keys line of a fleet whose base dir is gone."""
    _, sep, base = line.strip().rpartition("yaffmpegp-fleet:")
    return bool(sep) and not Path(base).exists()


def _bare_bin(bin_dir: Path) -> Path:
    """A dir of symlinks to BARE_TOOLS (root-owned, world-readable): ffmpeg is not on it."""
    bin_dir.mkdir(mode=0o755)
    for tool in BARE_TOOLS:
        target = shutil.which(tool, path="/usr/bin:/bin")
        if target:
            (bin_dir / tool).symlink_to(target)
    return bin_dir


def _lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [line + "\n" for line in path.read_text().splitlines() if line.strip()]


def _free_port() -> int:
    """A port free right now (bind to 0, read it back); sshd binds it a moment later."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _processes(marker: str | None = None) -> list[tuple[int, int, str]]:
    """(pid, real uid, name) of live processes, only those whose environment has `marker`.

    Zombies are dead: PID 1 here (not a real init) may take a while to reap the ones
    reparented to it, so they are left out.
    """
    out = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, KeyError):
            fields = dict(line.split(":", 1) for line in
                          Path(entry.path, "status").read_text().splitlines() if ":" in line)
            if fields["State"].split()[0] == "Z":
                continue
            if marker is not None:
                environ = Path(entry.path, "environ").read_bytes().split(b"\0")
                if marker.encode() not in environ:
                    continue
            out.append((int(entry.name), int(fields["Uid"].split()[0]), fields["Name"].strip()))
    return out


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = Path(entry.path, "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie is dead, only not yet reaped


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("up", "down"):
        print("usage: python -m tests.fleet up|down DIR", file=sys.stderr)
        return 2
    command, base_dir = argv
    if command == "down":
        Fleet.load(base_dir).stop()
        print(f"fleet in {base_dir} stopped")
        return 0
    fleet = Fleet().start(3, base_dir)
    for h in fleet.hosts:
        print(f"{h.name}: {h.spec} (sshd pid {h.pid}, TMPDIR {h.tmpdir})")
    print(f"ssh config:  {fleet.ssh_config}")
    print(f"known_hosts: {fleet.known_hosts}")
    print(f"try:  ssh -F {fleet.ssh_config} h1 ffmpeg -version")
    print(f"      yaffmpegp --ssh-config {fleet.ssh_config} --hostlist {' '.join(fleet.names)} "
          "--file INPUT.mkv -o OUTPUT.mp4 -c:v libx264 -c:a aac")
    print(f"stop: python -m tests.fleet down {base_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
