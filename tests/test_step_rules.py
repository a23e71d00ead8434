"""The house's rule for Then steps, read from steps/: a Then observes only. It hands no state
on (no target_fixture, returns nothing) and calls none of the lab's operations that act: those
create, start, run, ask, roll, clear or delete (asking the web app counts a visit)."""

from __future__ import annotations

import ast
from pathlib import Path

STEPS = Path(__file__).resolve().parents[1] / "steps"
ACTING = ("create_", "start_", "run_", "ask_", "roll_", "clear", "delete", "apply")


def _is_then(decorator: ast.expr) -> bool:
    return (
        isinstance(decorator, ast.Call)
        and isinstance(decorator.func, ast.Name)
        and decorator.func.id == "then"
    )


def then_problems(source: str, where: str) -> list[str]:
    """Every way a Then step in ``source`` acts or hands state on, one line each."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef):
            continue
        thens = [d for d in node.decorator_list if _is_then(d)]
        if not thens:
            continue
        line = f"{where}:{node.lineno}"
        for decorator in thens:
            assert isinstance(decorator, ast.Call)
            if any(k.arg == "target_fixture" for k in decorator.keywords):
                problems.append(f"{line}: a Then hands state on (target_fixture)")
        if not (isinstance(node.returns, ast.Constant) and node.returns.value is None):
            problems.append(f"{line}: a Then returns something (it must return None)")
        problems.extend(
            f"{line}: a Then acts: {call.func.attr}()"
            for call in ast.walk(node)
            if isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr.startswith(ACTING)
        )
    return problems


def test_every_then_in_steps_observes_only() -> None:
    problems = [
        p
        for path in sorted(STEPS.glob("*.py"))
        for p in then_problems(path.read_text(), str(path.relative_to(STEPS.parent)))
    ]
    assert problems == [], "\n".join(problems)


def test_a_then_that_asks_and_hands_on_is_named() -> None:
    # the seed-flow Then as it was: it asked the pod again and again and handed the answers on
    source = """
@then(parsers.parse("within {seconds:d} seconds the web pod answers"), target_fixture="page")
def _(lab: Lab, created: float, seconds: int) -> PageSince:
    page = lab.ask_until_page_settles(created)
    assert page.matches("x", within=seconds)
    return page
"""
    assert then_problems(source, "old.py") == [
        "old.py:3: a Then hands state on (target_fixture)",
        "old.py:3: a Then returns something (it must return None)",
        "old.py:3: a Then acts: ask_until_page_settles()",
    ]


def test_a_then_that_only_observes_passes() -> None:
    source = """
@then(parsers.parse("{count:d} web pods are running"))
def _(lab: Lab, count: int) -> None:
    assert len(lab.wait_for_web_pods(count)) == count
"""
    assert then_problems(source, "ok.py") == []
