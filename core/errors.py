"""Errors that are the user's to fix: the command line prints their message as one line."""


class UserError(Exception):
    """A problem with what the user asked for or supplied; the message names it and the fix."""


class UsageError(UserError):
    """A mistake in what was asked, caught before anything ran: exit code 2, like argparse's."""


class ConfigError(UsageError, ValueError):
    """A configuration value, file or override that cannot be used."""


class DataError(UserError):
    """A data set that is missing or unreadable; the message says where we looked and what to do."""


class CheckpointError(UserError):
    """A checkpoint file that cannot be used; the message names the file and the problem."""


class RunDirError(UserError):
    """A run directory that cannot be used (locked by another trainer, not a run, unwritable)."""


class ExportError(UserError):
    """An export that cannot be made (no samples yet, a bad or unwritable output path)."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (torch's errors run to pages), or its type."""
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def detail_line(exc: BaseException, limit: int = 160) -> str:
    """One informative line of an exception: its first, or the next when the first only announces
    a list (torch's "Error(s) in loading state_dict for X:")."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    line = lines[1] if lines[0].endswith(":") and len(lines) > 1 else lines[0]
    return line[:limit]
