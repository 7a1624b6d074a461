"""The error every bad Containerfile raises: one line naming the file and line."""

from __future__ import annotations

from berth.errors import InvalidArgument


class ContainerfileError(InvalidArgument):
    """A Containerfile that cannot be built, as ``FILE:LINE: what is wrong`` (exit 125 in the CLI)."""

    def __init__(self, filename: str, line: int, message: str, run: RunFailed | None = None) -> None:
        super().__init__(f"{filename}:{line}: {message}")
        self.filename = filename
        self.line = line
        self.message = message
        #: The RUN that failed, when that was the problem.
        self.run = run


class RunFailed(InvalidArgument):
    """A RUN whose command exited non-zero."""

    def __init__(self, status: int, instruction: str, argv: list[str]) -> None:
        super().__init__(f"RUN exited with status {status}: {instruction}")
        self.status = status
        #: the command as it ran (SHELL and the text, or the exec form's list)
        self.argv = argv
