"""The chaos tests run only from `make chaos` (TICKERDESK_CHAOS=1), against the servers
`deploy/ha.sh servers` started: each kills one of them with SIGKILL under load."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("TICKERDESK_CHAOS") == "1":
        return
    skip = pytest.mark.skip(reason="chaos tests run with `make chaos` (they need `make ha`'s servers)")
    for item in items:
        if "tests/chaos/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(skip)
