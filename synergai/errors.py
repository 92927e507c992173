"""Errors that carry a one-line, user-facing message.

Every bad input ends as one of these; the CLI prints ``str(err)`` and exits 2, so the message must
name the file / line / column or the config key that is wrong.
"""


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters escaped (``\\n``, ``\\x00``, ``\\u2028``), so an
    error message stays one line whatever a file name, cell or config key contains."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class SynergAIError(Exception):
    """Base class: a problem the user can fix from the message alone. The message is always one line."""

    def __init__(self, *args):
        super().__init__(*(one_line(a) if isinstance(a, str) else a for a in args))


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
