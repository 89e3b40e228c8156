"""The one kind of error a person is told about: `UserError`.

Something asked for cannot be done for a reason the person can fix (a malformed file, a
wrong path, a bad option, a busy project, missing weights). `str(error)` is one line. The
command line prints it after "labeler: error:" and exits 2 (cli.main); the window shows it in
a message and goes on. Anything that is not a UserError is a bug and keeps its traceback.

Each layer raises its own subclass (store.ProjectError, formats.FormatError,
imaging.ImageReadError, ml.WeightsError, ...); the ones that are also ValueErrors or
RuntimeErrors stay so, for callers that already catch those.
"""

from __future__ import annotations


class UserError(Exception):
    """Something the person asked for cannot be done; the message says why, in one line."""


class OptionError(UserError, ValueError):
    """A value given on the command line or in a dialog that cannot be used (a budget, a
    device, a model name, a class map)."""
