"""Progress on a terminal, silence when piped: what long-running commands share."""

from __future__ import annotations

from django.core.management.base import OutputWrapper


class Progress:
    """A single self-overwriting status line on an interactive stream; nothing otherwise."""

    def __init__(self, stream: OutputWrapper, total: int, label: str) -> None:
        self.stream = stream
        self.total = total
        self.label = label
        self.done = 0
        self.enabled = stream.isatty() and total > 1

    def step(self, item: str) -> None:
        self.done += 1
        if self.enabled:
            line = f"\r\x1b[K{self.label} [{self.done}/{self.total}] {item}"
            self.stream.write(line, style_func=_plain, ending="")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[K", style_func=_plain, ending="")
            self.stream.flush()


def _plain(text: str) -> str:
    # Commands colour stderr red on a terminal; progress is not an error.
    return text
