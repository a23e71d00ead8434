"""kubelab's layers (docs/design.md, Layers): every import points down, never back up."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Top to bottom; a module may import from its own layer and the layers below it.
LAYERS = {
    "entry points": (
        "steps",
        "kubelab.plugin",
        "kubelab.cli",
        "kubelab.bench",
        "kubelab.gate",
        "kubelab.gateplan",
        "kubelab.gatereport",
        "kubelab.matrix",
        "kubelab.soak",
    ),
    "the runs' reports": ("kubelab.report", "kubelab.browser"),
    "the lab": (
        "kubelab.lab",
        "kubelab.rollout",
        "kubelab.podwatch",
        "kubelab.traffic",
        "kubelab.timeline",
        "kubelab.manifests",
        "kubelab.checks",
        "kubelab.causes",
        "kubelab.probes",
        "kubelab.clusterdns",
        "kubelab.drain",
        # The change chapter's changes (they act on a provider's cluster, so sit above providers).
        "kubelab.change",
        "kubelab.changes",
        "kubelab.containers",
        "kubelab.upgrade",
    ),
    "providers": ("kubelab.cluster",),
    "what providers put on nodes": ("kubelab.images", "kubelab.build"),
    "foundations": (
        "kubelab.__init__",
        "kubelab.commands",
        "kubelab.console",
        "kubelab.diagnostics",
        "kubelab.errors",
        "kubelab.names",
        "kubelab.namespace",
        "kubelab.client",
        "kubelab.states",
        "kubelab.waits",
        "kubelab.watching",
        "kubelab.transient",
        "kubelab.evidence",
        "kubelab.http",
        "kubelab.paths",
        "kubelab.releases",
        "kubelab.signals",
        "kubelab.locks",
        "kubelab.mounts",
        "kubelab.hostpkgs",
        "kubelab.isolation",
        "kubelab.shares",
    ),
}


def _layer(module: str) -> int | None:
    if module == "kubelab":  # the package's own __init__ (an import of kubelab itself)
        module = "kubelab.__init__"
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


def test_every_module_has_a_layer() -> None:
    """A module with no layer would have its imports go unchecked."""
    unlayered = [module for module, _ in _modules() if _layer(module) is None]
    assert unlayered == [], f"no layer in LAYERS for: {', '.join(unlayered)}"


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
        ("kubelab.upgrade", "from kubelab.gate import run"),
        ("kubelab.evidence", "import kubelab.checks"),
        ("kubelab.report", "from kubelab.plugin.options import value"),
    ],
)
def test_an_import_back_up_is_named(module: str, source: str) -> None:
    assert len(upward(module, source, "x.py")) == 1


def test_only_the_adapter_imports_pytest_bdd() -> None:
    """docs/design.md: of kubelab, only kubelab/plugin/bdd.py imports pytest-bdd."""
    found = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for module, path in _modules()
        if module.startswith("kubelab.") and module != "kubelab.plugin.bdd"
        for line, name in imports(path.read_text())
        if name == "pytest_bdd" or name.startswith("pytest_bdd.")
    ]
    assert found == [], "\n".join(found)
