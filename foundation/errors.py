"""The one error hierarchy of the appliance.

Every error a user can act on is an ApplianceError; the CLI prints its
message as one line and exits non-zero (2 for bad input, 1 for a failed
operation). Subclasses also inherit the builtin they mean, so callers that
only know Python's errors still catch them sensibly.
"""


class ApplianceError(Exception):
    """Root of every error the appliance reports to a user."""

    exit_code = 1


class ConfigError(ApplianceError, ValueError):
    """cluster.yaml (or another input file) is wrong; the message says where and how to fix it."""

    exit_code = 2


class UsageError(ApplianceError, ValueError):
    """A command was called with bad arguments."""

    exit_code = 2


class RegistryError(ApplianceError, RuntimeError):
    """The SQLite registry cannot be opened or used."""


class EnvironmentProblem(ApplianceError, RuntimeError):
    """This machine lacks something (root, a kernel feature, a tool); the message names the fix."""
