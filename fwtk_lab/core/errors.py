"""The base of every clear-error class: bad input that the user can fix, reported as one line with exit 2."""

from __future__ import annotations


class UserError(Exception):
    """Bad input, with the value and what would be accepted; the CLI prints it as one `error:` line, exit 2."""

    exit_code = 2


class ConfigError(UserError, ValueError):
    """A config value that cannot work, with the key and what is accepted."""


class ResumeError(ConfigError):
    """A run cannot be continued as asked (a changed config, a stretched schedule, nothing to resume)."""
