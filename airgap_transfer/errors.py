"""One exception tree; each class knows its message template and exit code.

The CLI's single top-level handler turns any ``AirgapError`` into one line on
stderr and the exit code from the brief.  Engine code raises these and nothing
else for expected failures, so an uncaught other exception is a bug (exit 1).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3
EXIT_INTEGRITY = 4
EXIT_TRUST = 5
EXIT_NO_SPACE = 6
EXIT_INTERRUPTED = 130


class AirgapError(Exception):
    """Root of every expected failure.  ``hint`` says what to do next."""

    exit_code = EXIT_INTERNAL
    template = "{detail}"

    def __init__(self, detail: str = "", hint: str = "", **fields: object) -> None:
        self.detail = detail
        self.hint = hint
        self.fields = fields
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return self.template.format(detail=self.detail, **self.fields)

    def one_line(self) -> str:
        text = self.message
        if self.hint:
            text = f"{text} — {self.hint}"
        return text


class UsageError(AirgapError):
    """Bad combination of arguments that click itself cannot see."""

    exit_code = EXIT_USAGE


class IncompleteError(AirgapError):
    """Chunks, drives or the final index are still missing; re-run later."""

    exit_code = EXIT_INCOMPLETE


class IntegrityError(AirgapError):
    """A chunk or the whole does not match the digest the signed index gives."""

    exit_code = EXIT_INTEGRITY


class FormatError(IntegrityError):
    """A file on a drive is not what the on-media format says it must be."""


class TrustError(AirgapError):
    """Signature invalid, key not trusted, index replayed or from elsewhere."""

    exit_code = EXIT_TRUST


class NoSpaceError(AirgapError):
    """The destination has not enough free space for what must be written."""

    exit_code = EXIT_NO_SPACE


class Interrupted(AirgapError):
    """Ctrl-C or SIGTERM; the state is kept for resume."""

    exit_code = EXIT_INTERRUPTED


class KeyFileError(AirgapError):
    """A key file is missing, malformed or unsafe (bad permissions)."""

    exit_code = EXIT_USAGE


class DriveIOError(IncompleteError):
    """A drive or the source failed mid-operation (EIO, pulled stick); resumable."""
