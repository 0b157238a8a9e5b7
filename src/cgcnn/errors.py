"""Errors a user can act on: the CLI prints them in one line, without a traceback."""

from __future__ import annotations


class CgcnnError(Exception):
    """Base class for errors caused by input or usage rather than by a bug."""


class InputError(CgcnnError):
    """A file (or one entry inside it) cannot be used; the message names it."""

    def __init__(self, source, message: str):
        self.source = str(source)
        self.reason = message
        super().__init__(f"{source}: {message}")

    def __reduce__(self):  # so that worker processes can send it back
        return type(self), (self.source, self.reason)


class NothingUsable(InputError):
    """--skip-bad left out every crystal; the message gives the commonest reasons, `skipped` lists them all
    as (id, source, reason) so that the caller can still write the skipped list."""

    def __init__(self, source, skipped: list):
        self.skipped = list(skipped)
        super().__init__(source, f"no usable crystal: all {len(self.skipped)} were left out; commonest reasons: "
                         f"{common_reasons(self.skipped)}")

    def __reduce__(self):
        return type(self), (self.source, self.skipped)


def common_reasons(skipped: list, most: int = 3) -> str:
    """'reason (count); …' over (id, source, reason) rows, with numbers and quoted names blanked so that
    the same problem in different crystals counts once."""
    import re
    from collections import Counter

    counts = Counter(re.sub(r"'[^']*'|-?\d+(\.\d+)?(e[-+]?\d+)?", "…", row[2]) for row in skipped)
    return "; ".join(f"{reason} ({count}×)" for reason, count in counts.most_common(most))


def exception_summary(exc: Exception) -> str:
    """'Type: first line' of a parser's exception, short enough for a one-line error."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__
