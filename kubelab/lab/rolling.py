"""Rolling the web pods from 1.0 to 2.0 while traffic flows on every node and a watch follows the
pods; what the update looked like, and why answers after it are not from 2.0."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kubelab import evidence, rollout, timeline, traffic
from kubelab.http import Answer
from kubelab.images import Images
from kubelab.lab.asking import ask_every_node, ask_through_node_port, node_port_urls
from kubelab.lab.dns import explain
from kubelab.lab.objects import WEB_SELECTOR, web_pods
from kubelab.lab.tables import lives_table
from kubelab.namespace import LabNamespace
from kubelab.podwatch import PodCount, PodLife, PodWatch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rollout:
    """What a rolling update under traffic looked like."""

    controller: str
    record: traffic.Record
    counts: list[PodCount]
    lives: list[PodLife]
    most_running: int
    busiest: str  # the pods, by controller, when the most ran
    fewest_available: int
    picture: Path
    after: list[Answer]  # answers through the NodePort once the update is done
    last_old_exit: float  # seconds since traffic started when the last old web pod was gone

    def summary(self) -> str:
        """The traffic's summary line, and when the last old pod went and the traffic stopped."""
        return (
            f"{self.record.summary()}; last old web pod exited at {self.last_old_exit:.1f} s, "
            f"traffic stopped at {self.record.duration:.1f} s"
        )


def version_of(images: Images, image: str) -> str:
    """The web app's version an image holds (by the lab's image names), else the image."""
    return {images.web_v1: "1.0", images.web_v2: "2.0"}.get(image, image)


def roll_web_to_v2_under_traffic(
    ns: LabNamespace,
    images: Images,
    reports: Path,
    controller: str,
    rate: float = traffic.RATE,
    record: Callable[[str, object], None] | None = None,
) -> Rollout:
    """Roll web to 2.0 under a ``controller`` while traffic flows on every node and a watch
    follows the web pods; the timeline is saved in ``reports``, and ``record`` (pytest's
    ``record_property``) is given its path and the traffic's summary."""
    ns.wait_for_endpoints("web", count=len(web_pods(ns)))
    ask_every_node(ns)  # every node's kube-proxy serves the NodePort before traffic starts
    watch = PodWatch(ns, WEB_SELECTOR)
    watch.start()
    printed: list[str] = []

    def progress(line: str) -> None:
        log.info("%s", line)
        printed.append(f"{evidence.clock(time.time())}  {line}")

    try:
        with traffic.traffic(node_port_urls(ns), rate=rate) as probe:
            if controller == "ReplicationController":
                rollout.rolling_update_rc(ns, "web", images.web_v2, progress=progress)
            else:
                rollout.rolling_update_deployment(ns, "web", images.web_v2, progress=progress)
            # Traffic flows until the last old pod has exited: its SIGTERM, preStop and exit
            # happen with requests still coming.
            last_old_exit = watch.wait_until_old_pods_exit(ns.timeout)
    finally:
        shown = (
            "kubectl rolling-update"
            if controller == "ReplicationController"
            else "kubectl rollout status"
        )
        evidence.record(f"the rolling update's progress, as {shown} printed it", "\n".join(printed))
        counts = watch.stop()
    lives = sorted(watch.lives.values(), key=lambda life: (life.started or 0.0, life.name))
    version = functools.partial(version_of, images)
    evidence.record(
        "each web pod's life (seconds since the traffic started)",
        lives_table(lives, probe.record.started, version),
    )
    picture = reports / f"rollout-{controller}-{ns.name}.png"
    result = Rollout(
        controller,
        probe.record,
        counts,
        lives,
        watch.most_running,
        watch.busiest,
        watch.fewest_available,
        picture,
        ask_through_node_port(ns),
        last_old_exit - probe.record.started,
    )
    timeline.publish(
        probe.record,
        counts,
        f"web 1.0 -> 2.0 under a {controller}",
        picture,
        "the rollout's timeline: answers per second, web pods, and each pod's life",
        result.summary(),
        lives=[(life, version(life.image)) for life in lives],
    )
    if record is not None:
        record("timeline", str(picture))
        record("traffic", f"{controller}: {result.summary()}")
    return result


def explain_versions(ns: LabNamespace, images: Images, answers: list[Answer]) -> str:
    """``explain`` for answers that are not from 2.0, the cause first when every web pod runs
    the 2.0 image and answers still come from 1.0: the 2.0 image holds the 1.0 app."""
    text = explain(ns, answers)
    old = sum(1 for a in answers if a.version == "1.0")
    running = {p.spec.containers[0].image for p in web_pods(ns)}
    if old and running == {images.web_v2}:
        return (
            f"every web pod runs the 2.0 image {images.web_v2} and {old} of "
            f"{len(answers)} answers still come from 1.0: that image holds the 1.0 app (the "
            f"image is wrong, not the rollout)\n{text}"
        )
    return text
