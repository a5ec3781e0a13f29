"""Errors the CLI turns into a clear message and an exit code a scheduler can act on."""

from __future__ import annotations

# Exit codes (documented in the README).
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_INPUT = 2  # bad input file, missing column, unreadable encoding
EXIT_RULES = 3  # invalid rules / model file
EXIT_BUDGET = 4  # blocking would exceed the pair budget


class LinkageError(Exception):
    """Base for errors that carry a user-facing message (no traceback shown)."""

    exit_code = EXIT_INTERNAL


class InputError(LinkageError):
    """An input file cannot be used; the message names the file, and the row and column when known."""

    exit_code = EXIT_INPUT


class RulesError(LinkageError):
    """A rules file or model file is invalid; the message names the file and key."""

    exit_code = EXIT_RULES


class BudgetError(LinkageError):
    """Blocking would produce more pairs than the budget allows; names the rule and hottest key."""

    exit_code = EXIT_BUDGET


class UsageError(LinkageError):
    """A command was given something it cannot use: an output path that is a file where a folder
    is needed (or the reverse), a place that cannot be written, an option out of range."""

    exit_code = EXIT_INPUT
