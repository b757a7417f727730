"""The one exception type the CLI turns into a one-line message instead of a stack trace."""

from __future__ import annotations


class PipelineError(Exception):
    """A problem the user can fix: `problem` says what is wrong, `fix` says what to do about it."""

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(self.one_line())

    def one_line(self) -> str:
        return f"{self.problem}; {self.fix}" if self.fix else self.problem


class Unavailable(PipelineError):
    """A service (the lake's S3 endpoint, Glue, Athena) could not be reached or answered with a server
    error: a retry may succeed. Every backend raises this one type for it."""


class CommitRejected(PipelineError):
    """The consumer group refused an offset commit because this member no longer owns the partition
    (a rebalance, an expired session, a member paused past its session): the new owner re-reads from
    the last commit. Both Kafka backends raise it for the same group answers."""
