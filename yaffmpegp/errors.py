"""One error hierarchy. Every error carries the context a user needs to act on it.

Only the CLI turns these into messages and exit codes; nothing below it prints or exits.
"""
from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # the run itself failed (encode, join, every host lost)
    USAGE = 2  # bad command line, bad input file, options ffmpeg rejects
    HOSTS = 3  # no usable host
    BUSY = 4  # the same job is already running
    INTERRUPTED = 130


def tail(text: str, lines: int = 8) -> str:
    """The last non-empty lines of a (stderr) text."""
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


class YaffError(Exception):
    """Base of every error yaffmpegp raises on purpose.

    `retryable` says whether another attempt (maybe on another host) can cure it.
    """

    exit_code = ExitCode.FAILED
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        host: str | None = None,
        segment: int | None = None,
        argv: Sequence[str] | None = None,
        returncode: int | None = None,
        stderr: str = "",
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        if retryable is not None:
            self.retryable = retryable
        self.message = message
        self.host = host
        self.segment = segment
        self.argv = list(argv) if argv is not None else None
        self.returncode = returncode
        self.stderr_tail = tail(stderr)

    def __str__(self) -> str:
        where = []
        if self.host is not None:
            where.append(f"host {self.host}")
        if self.segment is not None:
            where.append(f"segment {self.segment}")
        prefix = f"{', '.join(where)}: " if where else ""
        return prefix + self.message

    def details(self) -> str:
        """Multi-line context for --debug / --verbose output."""
        out = [str(self)]
        if self.argv:
            out.append("command: " + " ".join(self.argv))
        if self.returncode is not None:
            out.append(f"exit status: {self.returncode}")
        if self.stderr_tail:
            out.append("stderr (last lines):\n" + self.stderr_tail)
        return "\n".join(out)


class UsageError(YaffError):
    """Bad command line: unknown combination of options, unsupported ffmpeg option."""

    exit_code = ExitCode.USAGE


class InputError(YaffError):
    """The input file is missing, unreadable or not a video."""

    exit_code = ExitCode.USAGE


class OutputError(YaffError):
    """The output cannot be written where asked (exists, directory missing, same as input)."""

    exit_code = ExitCode.USAGE


class JobRunningError(YaffError):
    """Another run of the same job (same input, output and options) holds its work dir."""

    exit_code = ExitCode.BUSY


class OptionsError(YaffError):
    """ffmpeg rejected the user's options (found by the preflight encode)."""

    exit_code = ExitCode.USAGE


class ToolError(YaffError):
    """ffmpeg/ffprobe missing or failing on this machine for reasons not tied to one segment."""


class SplitError(YaffError):
    """Cutting the input into segments failed."""


class EncodeError(YaffError):
    """One attempt at encoding one segment failed; another attempt may succeed."""

    retryable = True

    @property
    def signature(self) -> str | None:
        """What a deterministic failure looks like wherever it happens (None: it may be the
        host's or the moment's): the same signature on two hosts is the job's fault."""
        return self.message


class StaleError(EncodeError):
    """The encoder stopped making progress and was killed by the watchdog."""

    @property
    def signature(self) -> str | None:
        return None


class JobError(YaffError):
    """The job itself cannot be done as asked: a segment fails the same way on every host
    that tries it (the options or filters, not the hosts, are the cause)."""


class VerifyError(EncodeError):
    """An encoded segment does not hold what it should (frame count, checksum)."""


class TransferError(YaffError):
    """Moving a file to or from a host failed."""

    retryable = True


class HostError(YaffError):
    """A host cannot be used: unreachable, authentication, host key, no ffmpeg."""

    exit_code = ExitCode.HOSTS
    retryable = True


class HostKeyError(HostError):
    """The host's key is unknown or does not match known_hosts. Never retried."""

    retryable = False


class NoHostsError(HostError):
    """No usable host is left."""

    retryable = False


class JoinError(YaffError):
    """Joining the segments or the final mux failed, or the output failed its checks."""


class CheckError(JoinError):
    """The joined output differs from what a single pass would give: the encoded segments
    are suspect, and are not kept for a resume."""


class Interrupted(YaffError):
    exit_code = ExitCode.INTERRUPTED


def first_error(group: BaseExceptionGroup) -> BaseException:
    """The error that matters in a (nested) exception group from a TaskGroup: the first
    YaffError if any, else the first leaf."""
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            leaves.append(exc)

    walk(group)
    for leaf in leaves:
        if isinstance(leaf, YaffError):
            return leaf
    return leaves[0]
