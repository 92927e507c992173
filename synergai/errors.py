"""Errors that carry a one-line, user-facing message.

Every bad input ends as one of these; the CLI prints ``str(err)`` and exits 2, so the message must
name the file / line / column or the config key that is wrong.
"""


class SynergAIError(Exception):
    """Base class: a problem the user can fix from the message alone."""


class TraceError(SynergAIError):
    """A trace file (or a row in it) is malformed."""

    def __init__(self, path, line: int | None, column: str | None, problem: str):
        where = str(path)
        if line is not None:
            where += f":{line}"
        if column:
            where += f" column '{column}'"
        super().__init__(f"{where}: {problem}")
        self.path, self.line, self.column, self.problem = path, line, column, problem


class ConfigError(SynergAIError):
    """A configuration value is invalid; ``key`` is its dotted path (e.g. ``workload.load``)."""

    def __init__(self, key: str, problem: str):
        super().__init__(f"{key}: {problem}")
        self.key, self.problem = key, problem
