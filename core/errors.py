"""The exceptions sessionbot raises, all under one root.

::

    SessionbotError
    ├── ConfigError             bad configuration; the CLI exits with status 2
    ├── StorageError            the store failed or holds something it cannot read
    │   ├── ConflictError       a concurrent writer got there first
    │   │   └── StaleSessionError   the session ended or moved on since it was read
    │   └── RejectedValueError  the database refused a value of one write
    ├── ResponderError          the responder (LLM, echo) failed; the user gets an apology
    └── CommandError            the text is shown to the user as is
        ├── UsageError          malformed arguments; carries the command's usage line
        ├── NotFoundError       unknown id, or an id outside the caller's scope
        └── PermissionDenied    the caller may not run this command

``NotFoundError`` is raised both for ids that do not exist and for ids that belong to
someone else, so an error never tells a user that another user's id exists.
"""

from __future__ import annotations


class SessionbotError(Exception):
    """Root of every exception sessionbot raises on purpose."""


class ConfigError(SessionbotError):
    """The configuration is invalid.

    Args:
        message: one line naming the file, the key and what is wrong.
    """


class StorageError(SessionbotError):
    """The store failed, or holds a row it cannot read."""


class ConflictError(StorageError):
    """A concurrent writer changed the row first; the caller may retry."""


class RejectedValueError(StorageError):
    """The database refused a value of one write (a data error): that write's doing.

    Other writes that shared its transaction are retried without it.
    """


class StaleSessionError(ConflictError):
    """The session was archived, or its head branch changed, since the caller read it.

    Raised by a conditional append (``expect_head``); nothing was written.
    """


class ResponderError(SessionbotError):
    """The responder could not produce an answer."""


class CommandError(SessionbotError):
    """An error whose message is shown to the user as one line."""


class UsageError(CommandError):
    """The command's arguments are malformed.

    Args:
        message: what is wrong.
        usage: the command's usage line, appended to the reply.
    """

    def __init__(self, message: str, usage: str = "") -> None:
        super().__init__(message)
        self.usage = usage

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text} Usage: {self.usage}" if self.usage else text


class NotFoundError(CommandError):
    """No such id in the caller's scope (it may exist elsewhere)."""


class PermissionDenied(CommandError):
    """The caller is not allowed to do this."""
