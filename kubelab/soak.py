"""``tox -e soak -- --runs N [pytest options]``: the lab N times on one cluster, to find false
failures.

The first run brings the cluster up (or reaches the one given) and every run passes
``--keep-cluster``, so the next one reuses it (``--new-cluster-each-run``: every run creates and
removes its own, e.g. kind's creation soaked with the lab; a kind cluster already there, which each
run would reuse and leave in place, is refused); a local cluster the soak started is taken down at
the end. Each run's reports go to ``reports/soak/run-K``, its output to ``run-K.log`` beside
them; an earlier soak's go to ``reports/soak/.previous`` as the soak starts. At the end: how many
runs passed, and for each failed run its first failure line, the file and line it was raised at,
and what it is:

- ``kubelab``: an exception that is no diagnosis (a TypeError, an OSError, ...), which kubelab's
  own code raised or let through: a bug, or a cluster problem kubelab failed to name; a run that
  failed without a line of kubelab's; and the sentinels' finding that the lab changed objects it
  did not create;
- ``diagnosis``: what kubelab says about the cluster, raised on purpose: one of kubelab's errors
  (kubelab/errors.py and their subclasses: a wait that ran out, a problem the cluster has) or a
  step's assertion. Usually the cluster's fault, yet it can be kubelab's own mistake (the one false
  failure a soak found, "the watch saw 5 web pods at once", was an assertion about a rollout
  kubelab itself had driven wrongly): the line and where it was raised tell which.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from kubelab import commands, errors, signals
from kubelab.console import say
from kubelab.waits import COLD

ROOT = Path(__file__).resolve().parents[1]
DIAGNOSIS, KUBELAB = "diagnosis", "kubelab"
RUN_DIR = re.compile(r"run-\d+")  # run K's reports directory in the soak's; its log is run-K.log
# Where kubelab's own code lives, as tracebacks name it.
OWN_CODE = re.compile(r"(^|/)(kubelab|steps)/[\w/]+\.py$")
FRAME = re.compile(r"^(?P<path>[\w./-]+\.py):(?P<line>\d+): ", re.M)  # pytest's long traceback
# A library's file as tracebacks name it, from where its package starts.
LIBRARY = re.compile(r"^.*/(?:site-packages|dist-packages|lib/python\d+\.\d+)/")
# What kubelab's plugin adds to a failure's report after its traceback (kubelab/plugin/__init__.py).
DIAGNOSTICS = re.compile(r"^-+ kubelab diagnostics -+$", re.M)
# What a run's output says when it failed outside any test: kubelab's lines, of which these are
# about kubelab's own reports rather than the cluster.
RUN_LINE = re.compile(r"^(?:! _pytest\.outcomes\.Exit: )?(kubelab: .*?)(?: !)?$", re.M)
# The sentinels' check (kubelab/plugin/cluster.py): the lab itself touched what it did not create.
KUBELAB_RUN_LINES = (
    "could not be drawn",
    "does not read well in Chromium",
    "the lab changed objects it did not create",
)
# JUnit's message for an error in a fixture's setup or teardown wraps the exception's line.
IN_FIXTURE = re.compile(r'failed on (?:setup|teardown) with "(?P<message>.*?)"?', re.S)


@dataclass(frozen=True)
class Failure:
    """The first failure of one run: its test, first line, what it is, and where it was raised."""

    test: str
    line: str
    source: str  # KUBELAB or DIAGNOSIS
    raised_at: str = ""  # file:line of the frame that raised it (and kubelab's frame that called)

    def shown(self) -> str:
        """One line: what it is, first line, where it was raised, and its test."""
        where = f" (raised at {self.raised_at})" if self.raised_at else ""
        test = f" [{self.test}]" if self.test else ""
        return f"{self.source}: {self.line}{where}{test}"


def exception_class(message: str) -> str:
    """The exception's class in pytest's one-line message: ``kubelab.errors.WaitTimeout: ...``
    gives ``kubelab.errors.WaitTimeout``; a bare ``assert`` gives AssertionError."""
    head = message.split(":", 1)[0].strip()
    if re.fullmatch(r"[\w.]+", head):
        return head
    return "AssertionError" if message.startswith("assert") else ""


def is_diagnosis(qualified: str) -> bool:
    """The exception class (``module.Name``) says something about the cluster on purpose: an
    AssertionError, or one of kubelab's errors (kubelab/errors.py, or a subclass of one of them
    elsewhere in kubelab, e.g. kubelab.commands.CommandFailed)."""
    module, _, name = qualified.rpartition(".")
    if module in ("", "builtins"):
        return name == "AssertionError"
    if module.split(".")[0] != "kubelab":
        return False
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):  # not importable here: judged by its name alone
        found = getattr(errors, name, None)
    return isinstance(found, type) and issubclass(found, (errors.KubelabError, AssertionError))


def raised_at(traceback: str) -> str:
    """Where ``traceback`` (pytest's long form) ends: the file and line of the frame that raised,
    a library's from its package on; when that is not kubelab's or the steps' code, with the last
    frame that is ("json/decoder.py:353, from kubelab/watching.py:10")."""
    frames = list(FRAME.finditer(DIAGNOSTICS.split(traceback, 1)[0]))
    if not frames:
        return ""
    last = frames[-1]
    where = f"{LIBRARY.sub('', last['path'])}:{last['line']}"
    own = [m for m in frames if OWN_CODE.search(m["path"])]
    if own and own[-1] is not last:
        where += f", from {own[-1]['path']}:{own[-1]['line']}"
    return where


def classify(message: str, traceback: str) -> Failure:
    """A failure from its one-line message and its traceback (``test`` left for the caller); an
    error in setup or teardown by the exception inside JUnit's wrapper."""
    in_fixture = IN_FIXTURE.fullmatch(message.strip())
    if in_fixture:
        message = in_fixture["message"]
    first = message.strip().splitlines()[0] if message.strip() else "(no message)"
    source = DIAGNOSIS if is_diagnosis(exception_class(message)) else KUBELAB
    return Failure("", first, source, raised_at(traceback))


def junit_failures(xml: str) -> list[Failure]:
    """Every failed or erroring test case of a JUnit file's text, in file order."""
    found = []
    for case in ElementTree.fromstring(xml).iter("testcase"):
        for problem in case:
            if problem.tag not in ("failure", "error"):
                continue
            failure = classify(problem.get("message", ""), problem.text or "")
            found.append(
                Failure(case.get("name", ""), failure.line, failure.source, failure.raised_at)
            )
    return found


def run_failure(output: str) -> Failure:
    """Why a run failed when no test case did: kubelab's first line in its output (a cluster
    that could not be set up, an end-of-run check, the report's check)."""
    lines = RUN_LINE.findall(output)
    if not lines:
        tail = [line for line in output.splitlines() if line.strip()][-1:] or ["(no output)"]
        return Failure("", tail[0], KUBELAB)
    line = lines[0]
    return Failure("", line, KUBELAB if any(k in line for k in KUBELAB_RUN_LINES) else DIAGNOSIS)


def first_failure(junit: Path, output: str) -> Failure:
    """The first failure of a run that did not pass, from its JUnit file, else its output."""
    found = junit_failures(junit.read_text()) if junit.is_file() else []
    return found[0] if found else run_failure(output)


def report(results: list[Failure | None], where: str = "on one cluster") -> str:
    """The pass count, then each failed run's first failure, one a line."""
    passed = sum(1 for r in results if r is None)
    lines = [f"kubelab soak: {passed} of {len(results)} runs passed {where}"]
    lines += [f"  run {n}: {r.shown()}" for n, r in enumerate(results, 1) if r is not None]
    by_source = {s: sum(1 for r in results if r and r.source == s) for s in (KUBELAB, DIAGNOSIS)}
    if passed < len(results):
        lines.append(
            f"failures from kubelab's code: {by_source[KUBELAB]}; diagnoses: "
            f"{by_source[DIAGNOSIS]} (of the cluster, or kubelab's own mistake: read the line and "
            "where it was raised)"
        )
    return "\n".join(lines)


def _run(n: int, pytest_args: list[str], reports: Path, keep: bool = True) -> Failure | None:
    out = reports / f"run-{n}"
    out.mkdir(parents=True, exist_ok=True)
    # The output beside the run's reports, not among them: a run moves the files it finds in its
    # reports directory aside (one run, one report), this one too.
    junit, log = out / "junit.xml", reports / f"run-{n}.log"
    command = [
        *(sys.executable, "-m", "pytest", "steps", "-p", "no:cacheprovider"),
        *(["--keep-cluster"] if keep else []),
        *(f"--reports-dir={out}", f"--junitxml={junit}", *pytest_args),
    ]
    say(f"[soak] run {n}: {' '.join(command[2:])}")
    with log.open("w") as output:
        try:
            status = commands.run_child(command, timeout=COLD, cwd=ROOT, stdout=output)
        except commands.CommandTimedOut:
            return Failure("", f"the run did not end within {COLD:.0f} s", KUBELAB)
    return first_failure(junit, log.read_text()) if status else None


def asks_for_kind(pytest_args: list[str]) -> bool:
    """The runs' pytest options name ``--cluster=kind`` (or ``--cluster kind``, or the
    ``--kubelab-cluster`` spelling)."""
    given = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    given.add_argument("--cluster", "--kubelab-cluster", dest="cluster")
    return given.parse_known_args(pytest_args)[0].cluster == "kind"


def refuse_a_kind_cluster_there() -> None:
    """A one-line EnvironmentProblem when a kind cluster of kubelab's name exists (in an engine
    that answers): every run would reuse it and leave it in place, none would create its own."""
    from kubelab.cluster.kind import nodes
    from kubelab.cluster.kind.engine import docker_answers

    if docker_answers():
        nodes.refuse_any("kind", "with --new-cluster-each-run every run creates its own")


@dataclass(frozen=True)
class KindBefore:
    """What of kind a soak on one cluster found before its first run: what it creates (the
    cluster, kind's network, kubelab's dockerd) it takes down at the end, and nothing else."""

    engine: bool  # a Docker engine answered
    cluster: bool  # a kind cluster of kubelab's name was there
    network: bool  # kind's Docker network was there

    @classmethod
    def look(cls) -> KindBefore:
        from kubelab.cluster.kind import nodes
        from kubelab.cluster.kind.engine import docker_answers

        if not docker_answers():
            return cls(engine=False, cluster=False, network=False)
        return cls(True, bool(nodes.node_images()), nodes.network_exists())

    def take_down(self) -> None:
        """Delete the kind cluster, kind's network and kubelab's dockerd, each unless it was
        there before the soak."""
        from kubelab.cluster.kind import nodes, tools
        from kubelab.cluster.kind.engine import DockerEngine, docker_answers
        from kubelab.paths import cache_dir

        if self.cluster or not docker_answers():
            return
        say("[soak] deleting the kind cluster the soak created")
        nodes.delete_left_behind(tools.kind_cli(cache_dir()))
        if not self.network and nodes.network_exists():
            nodes.remove_network()
        if not self.engine:
            DockerEngine().stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kubelab-soak", description=__doc__)
    parser.add_argument("--runs", type=int, required=True, help="how many lab runs")
    parser.add_argument(
        "--soak-dir",
        type=Path,
        default=ROOT / "reports" / "soak",
        help="where each run's reports and log go (default reports/soak)",
    )
    parser.add_argument(
        "--new-cluster-each-run",
        action="store_true",
        help="create the cluster anew for every run and take it down after (e.g. kind: its "
        "creation is soaked too)",
    )
    args, pytest_args = parser.parse_known_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    from kubelab.report import refuse_reports_dir, set_aside_earlier_run

    try:
        refuse_reports_dir(args.soak_dir, "--soak-dir", (ROOT, Path.cwd()), "reports/soak")
    except errors.UsageError as exc:
        say(f"kubelab soak: {exc}", sys.stderr)
        return 2
    if args.new_cluster_each_run and asks_for_kind(pytest_args):
        try:
            refuse_a_kind_cluster_there()
        except errors.EnvironmentProblem as exc:
            say(f"kubelab soak: {exc}", sys.stderr)
            return 2
    from kubelab.cluster.local import LocalCluster

    # One soak, one set of runs: an earlier soak's run-K/ and run-K.log (also those past this
    # soak's --runs) go to .previous/, as a lab run does with its reports directory.
    set_aside_earlier_run(args.soak_dir, runs=RUN_DIR)
    local = LocalCluster()
    was_up = local.has_processes()
    kind = KindBefore.look() if asks_for_kind(pytest_args) else None
    results: list[Failure | None] = []
    interrupted = False
    try:
        with signals.sigterm_interrupts():  # a CI cancel stops the run as Ctrl-C does
            for n in range(1, args.runs + 1):
                results.append(_run(n, pytest_args, args.soak_dir, not args.new_cluster_each_run))
                say(f"[soak] run {n}: {'passed' if results[-1] is None else 'FAILED'}")
    except KeyboardInterrupt:
        interrupted = True
        say(f"[soak] interrupted in run {len(results) + 1}: it was told to stop and cleaned up")
    finally:
        with signals.shielded():
            if not was_up and local.has_processes():
                say("[soak] taking down the local cluster the soak started")
                local.down()
            if kind is not None:
                kind.take_down()
        say(
            report(
                results, "each on a new cluster" if args.new_cluster_each_run else "on one cluster"
            )
        )
    if interrupted:
        return 130
    return 0 if all(r is None for r in results) and len(results) == args.runs else 1


if __name__ == "__main__":
    raise SystemExit(main())
