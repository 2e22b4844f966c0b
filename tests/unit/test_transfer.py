"""Which SHA-1 command a host's transfer checks use: the remote picker, run by a real sh
with only the tools a test puts on its PATH."""
import os
import shutil
import subprocess
from pathlib import Path

from yaffmpegp.transport.transfer import pick_digest_script


def _pick(bin_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([shutil.which("sh") or "/bin/sh", "-c", pick_digest_script()], capture_output=True,
                          text=True, env={"PATH": str(bin_dir)})


def _link(bin_dir: Path, *tools: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    for tool in tools:
        os.symlink(shutil.which(tool) or tool, bin_dir / tool)


def test_openssl_first_then_sha1sum_then_none(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    _link(bin_dir, "sha1sum")
    r = _pick(bin_dir)
    assert (r.returncode, r.stdout) == (0, "sha1sum\n")
    if shutil.which("openssl"):
        _link(bin_dir, "openssl")
        r = _pick(bin_dir)
        assert (r.returncode, r.stdout) == (0, "openssl dgst -sha1 -r\n")
    r = _pick(tmp_path / "empty")
    assert (r.returncode, r.stdout) == (1, "")


def test_a_tool_that_prints_something_else_is_passed_over(tmp_path: Path) -> None:
    """An `openssl` that runs but does not print coreutils-style SHA-1 (an old or odd build)."""
    bin_dir = tmp_path / "bin"
    _link(bin_dir, "sha1sum")
    fake = bin_dir / "openssl"
    fake.write_text("#!/bin/sh\necho '(stdin)= da39a3ee5e6b4b0d3255bfef95601890afd80709'\n")
    fake.chmod(0o755)
    r = _pick(bin_dir)
    assert (r.returncode, r.stdout) == (0, "sha1sum\n")
