"""Errors that are the user's to fix: the command line prints their message as one line."""


class UserError(Exception):
    """A problem with what the user asked for or supplied; the message names it and the fix."""


class ConfigError(UserError, ValueError):
    """A configuration value, file or override that cannot be used."""


class DataError(ConfigError):
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
