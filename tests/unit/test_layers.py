"""Dependencies point inward, and this test says so.

    domain  <-  app  <-  codec  <-  adapters, entrypoints  <-  bootstrap

- `domain` imports nothing of the project but itself;
- `app` (use cases, ports, views, consumers) imports only `domain` and `app`;
- `codec` (the wire form) imports only `domain` and `app`;
- adapters and entry points never import each other's insides the wrong way:
  entry points never name an adapter, adapters never import an entry point;
- `bootstrap` is the one composition root: only the CLI (which starts processes)
  imports it, and nothing it builds imports it back.

Every `import` is checked, including those inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "tickerdesk"

# layer -> the project layers it may import (besides third-party libraries)
ALLOWED: dict[str, set[str]] = {
    "domain": {"domain"},
    "app": {"domain", "app"},
    "codec": {"domain", "app"},
    "config": set(),
    "logs": set(),
    "metrics": {"domain"},
    "adapters": {"domain", "app", "codec", "adapters", "config", "metrics", "logs"},
    "entrypoints": {"domain", "app", "codec", "entrypoints", "config", "metrics", "logs", "package"},
    "bootstrap": {"domain", "app", "codec", "adapters", "entrypoints", "config", "metrics", "logs"},
    "package": set(),
}
# The CLI starts processes, so it alone may reach the composition root.
MAY_IMPORT_BOOTSTRAP = {"tickerdesk.entrypoints.cli"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "package"


def project_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative imports hide the layer; use absolute ones"
            found.append(node.module or "")
    return [name for name in found if name == "tickerdesk" or name.startswith("tickerdesk.")]


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_each_module_imports_only_inward(path):
    module = module_name(path)
    layer = layer_of(module)
    wrong = []
    for imported in project_imports(path):
        target = layer_of(imported)
        if target == "bootstrap":
            if module not in MAY_IMPORT_BOOTSTRAP:
                wrong.append(imported)
        elif target not in ALLOWED[layer]:
            wrong.append(imported)
    assert not wrong, f"{module} ({layer}) must not import {wrong}"


def test_the_rule_itself_catches_a_wrong_import(tmp_path):
    """The check above is not vacuous: a use case importing an adapter is caught."""
    bad = PACKAGE / "app" / "place_order.py"
    source = bad.read_text() + "\nfrom tickerdesk.adapters.postgres.commands import PgCommandStore\n"
    copy = tmp_path / "tickerdesk" / "app" / "place_order.py"
    copy.parent.mkdir(parents=True)
    copy.write_text(source)
    assert "tickerdesk.adapters.postgres.commands" in project_imports(copy)
    assert layer_of("tickerdesk.adapters.postgres.commands") not in ALLOWED["app"]


def test_every_layer_is_known():
    assert {layer_of(module_name(p)) for p in MODULES} <= set(ALLOWED) | {"bootstrap"}
