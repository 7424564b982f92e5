"""An embedded PostgreSQL (the `pgserver` package) for `tickerdesk up` with no
database configured: it lives in the data directory and keeps its data there."""

from __future__ import annotations

from pathlib import Path


class EmbeddedPostgres:
    def __init__(self, data_dir: Path):
        import pgserver

        data_dir.mkdir(parents=True, exist_ok=True)
        self._server = pgserver.get_server(str((data_dir / "pg").resolve()), cleanup_mode="stop")
        self.url = self._server.get_uri()

    def stop(self) -> None:
        """Stop the server now. pgserver would at interpreter exit, but uvicorn ends a
        SIGTERM'd process by re-raising the signal, so exit handlers never run."""
        self._server._cleanup()  # idempotent: the same call pgserver registers with atexit


def start_embedded(data_dir: Path) -> str:
    """Start (or reuse) the server in `data_dir/pg`, stopped when this process exits."""
    return EmbeddedPostgres(data_dir).url
