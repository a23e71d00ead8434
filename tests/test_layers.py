"""kubelab's layers (docs/design.md, Layers): every import points down, never back up."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Top to bottom; a module may import from its own layer and the layers below it.
LAYERS = {
    "entry points": ("steps", "kubelab.plugin", "kubelab.cli", "kubelab.bench"),
    "the lab": ("kubelab.lab", "kubelab.rollout", "kubelab.podwatch", "kubelab.traffic"),
    "providers": ("kubelab.cluster",),
    "what providers put on nodes": ("kubelab.images", "kubelab.build"),
    "foundations": (
        "kubelab.commands",
        "kubelab.console",
        "kubelab.diagnostics",
        "kubelab.errors",
        "kubelab.names",
        "kubelab.namespace",
        "kubelab.client",
        "kubelab.states",
        "kubelab.waits",
    ),
}


def _layer(module: str) -> int | None:
    for depth, prefixes in enumerate(LAYERS.values()):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return depth
    return None


def _modules() -> list[tuple[str, Path]]:
    files = [*(ROOT / "kubelab").rglob("*.py"), *(ROOT / "steps").rglob("*.py")]
    return [
        (".".join(f.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"), f)
        for f in sorted(files)
    ]


def imports(source: str) -> list[tuple[int, str]]:
    """Every module ``source`` imports (at the top or inside a function), with its line."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def upward(module: str, source: str, where: str) -> list[str]:
    """Each import in ``source`` (module ``module``) of a layer above the module's own."""
    own = _layer(module)
    if own is None:
        return []
    names = list(LAYERS)
    return [
        f"{where}:{line}: {module} ({names[own]}) imports {name} ({names[target]})"
        for line, name in imports(source)
        if (target := _layer(name)) is not None and target < own
    ]


def test_no_import_runs_back_up() -> None:
    problems = [
        p
        for module, path in _modules()
        for p in upward(module, path.read_text(), str(path.relative_to(ROOT)))
    ]
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("kubelab.cluster.kind.provider", "from kubelab.rollout import rollout_status"),
        ("kubelab.cluster.base", "from kubelab.lab import Lab"),
        ("kubelab.images.lab", "from kubelab.cluster.base import Images"),
        ("kubelab.diagnostics", "def f():\n    from kubelab.cluster.base import Provider"),
    ],
)
def test_an_import_back_up_is_named(module: str, source: str) -> None:
    assert len(upward(module, source, "x.py")) == 1
