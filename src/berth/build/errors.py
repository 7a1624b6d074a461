"""The error every bad Containerfile raises: one line naming the file and line."""

from __future__ import annotations

from berth.errors import InvalidArgument


class ContainerfileError(InvalidArgument):
    """A Containerfile that cannot be built, as ``FILE:LINE: what is wrong`` (exit 125 in the CLI)."""

    def __init__(self, filename: str, line: int, message: str) -> None:
        super().__init__(f"{filename}:{line}: {message}")
        self.filename = filename
        self.line = line
        self.message = message
