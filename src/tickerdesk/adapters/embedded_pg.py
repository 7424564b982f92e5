"""An embedded PostgreSQL (the `pgserver` package) for `tickerdesk up` with no
database configured: it lives in the data directory and keeps its data there."""

from __future__ import annotations

import warnings
from pathlib import Path
from types import ModuleType


def _pgserver() -> ModuleType:
    """pgserver, imported without platformdirs' warning about XDG_RUNTIME_DIR. At import
    pgserver asks platformdirs for a per-user runtime directory for its lock file; with
    no XDG_RUNTIME_DIR (a container, cron, sudo, ssh without a login session) platformdirs
    falls back to `runtime-<uid>` in the temporary directory, which it checks is ours and
    private (mode 0700), and warns on stderr. That directory serves the lock just as well,
    so the warning only told every command's user of something there is nothing to do about."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        import pgserver
    return pgserver


class EmbeddedPostgres:
    def __init__(self, data_dir: Path):
        pgserver = _pgserver()
        data_dir.mkdir(parents=True, exist_ok=True)
        self._server = pgserver.get_server(str((data_dir / "pg").resolve()), cleanup_mode="stop")
        self.url = self._server.get_uri()

    @staticmethod
    def exists(data_dir: Path) -> bool:
        """Whether `data_dir` holds one (commands other than `up` use it, never make it)."""
        return (data_dir / "pg").is_dir()

    def stop(self) -> None:
        """Stop the server now. pgserver would at interpreter exit, but uvicorn ends a
        SIGTERM'd process by re-raising the signal, so exit handlers never run."""
        self._server._cleanup()  # idempotent: the same call pgserver registers with atexit


def start_embedded(data_dir: Path) -> str:
    """Start (or reuse) the server in `data_dir/pg`, stopped when this process exits."""
    return EmbeddedPostgres(data_dir).url
