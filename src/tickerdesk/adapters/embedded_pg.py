"""An embedded PostgreSQL (the `pgserver` package) for `tickerdesk up` with no
database configured: it lives in the data directory and keeps its data there."""

from __future__ import annotations

from pathlib import Path


def start_embedded(data_dir: Path) -> str:
    """Start (or reuse) the server in `data_dir/pg` and return its connection URL."""
    import pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str((data_dir / "pg").resolve()), cleanup_mode=None)
    return server.get_uri()
