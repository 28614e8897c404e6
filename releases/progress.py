"""Progress on a terminal, silence when piped: what long-running commands share."""

from __future__ import annotations

from typing import TextIO


class Progress:
    """A single self-overwriting status line on an interactive stream; nothing otherwise."""

    def __init__(self, stream: TextIO, total: int, label: str) -> None:
        self.stream = stream
        self.total = total
        self.label = label
        self.done = 0
        isatty = getattr(stream, "isatty", None)
        self.enabled = bool(isatty and isatty()) and total > 1

    def step(self, item: str) -> None:
        self.done += 1
        if self.enabled:
            self.stream.write(f"\r\x1b[K{self.label} [{self.done}/{self.total}] {item}")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
