"""A TCP server on 127.0.0.1 that accepts connections and never answers: a Redis that hangs
(a failover in progress, a half-open connection, a stopped process behind a proxy)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from types import TracebackType


class HangingServer:
    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.accepted: list[socket.socket] = []
        # True once a watchdog had to cut the connections (something waited for ever).
        self.cut = False
        self.closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def connections(self) -> int:
        """Connections accepted so far (each client that waited and gave up opens a new one)."""
        with self._lock:
            return len(self.accepted)

    def _accept(self) -> None:
        while True:
            try:
                peer, _ = self.listener.accept()
            except OSError:  # closed
                return
            with self._lock:
                if self.closed:
                    peer.close()
                    return
                self.accepted.append(peer)

    def close(self) -> None:
        """Refuse new connections and close the accepted ones (their clients see them end)."""
        with self._lock:
            self.closed = True
            # Shut down first: closing alone leaves a blocked accept() listening.
            with contextlib.suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)
            self.listener.close()
            for peer in self.accepted:
                with contextlib.suppress(OSError):
                    peer.shutdown(socket.SHUT_RDWR)
                peer.close()

    @contextlib.contextmanager
    def watchdog(self, seconds: float) -> Iterator[None]:
        """Cut every connection if the block still runs after ``seconds``, so that a client
        waiting for ever ends (and the test fails on ``cut``) instead of hanging the suite."""

        def cut() -> None:
            self.cut = True
            self.close()

        timer = threading.Timer(seconds, cut)
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()

    def __enter__(self) -> HangingServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
