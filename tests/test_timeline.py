"""The rollout timeline: honest rates up to the last partial second, failures apart, pod marks."""

from __future__ import annotations

import functools
from pathlib import Path
from types import SimpleNamespace

import pytest

from kubelab import timeline
from kubelab.podwatch import PodCount, PodLife
from kubelab.traffic import Record, Request


def steady(duration: float, rate: int = 100, failing: tuple[float, float] = (0, 0)) -> Record:
    requests = []
    for i in range(int(duration * rate)):
        sent = i / rate
        bad = failing[0] <= sent < failing[1]
        requests.append(
            Request(
                sent=sent,
                latency=0.005,
                target="172.30.0.11:30000",
                status=0 if bad else 200,
                version=None if bad else ("1.0" if sent < duration / 2 else "2.0"),
                error="ConnectionRefusedError" if bad else None,
            )
        )
    return Record(requests=requests, started=1000.0, duration=duration)


@pytest.mark.parametrize("duration", [3.5, 3.1, 3.0, 0.4])
def test_steady_traffic_shows_a_steady_rate_to_the_end(duration: float):
    totals = [sum(v) for v in zip(*timeline.rates(steady(duration)).values(), strict=True)]
    assert totals == pytest.approx([100.0] * len(totals), abs=1.5)


def test_a_short_last_bit_joins_the_second_before_it():
    assert timeline.bins(3.1) == [(0.0, 1.0), (1.0, 2.0), (2.0, 3.1)]
    assert timeline.bins(3.5) == [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 3.5)]


def test_failures_are_counted_apart_from_every_version():
    rates = timeline.rates(steady(4.0, failing=(1.0, 1.5)))
    assert set(rates) == {"1.0", "2.0", "failed"}
    assert rates["failed"] == pytest.approx([0, 50, 0, 0])
    assert timeline.COLOURS["failed"] not in {timeline.COLOURS["1.0"], timeline.COLOURS["2.0"]}


def test_the_picture_is_drawn_with_pod_lives(tmp_path: Path):
    record = steady(6.0, failing=(2.0, 2.2))
    lives = [
        (
            PodLife("web", "kubelab.local/web:1.0", before=True, stopping=1003.0, exited=1004.0),
            "1.0",
        ),
        (
            PodLife(
                "web-1234567890abcdef-x1y2z", "kubelab.local/web:2.0", started=1001.0, ready=1002.0
            ),
            "2.0",
        ),
    ]
    counts = [PodCount(1000.0, 1, 1), PodCount(1001.0, 2, 1), PodCount(1002.0, 2, 2)]
    path = timeline.draw(record, counts, "test", tmp_path / "t.png", lives=lives)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _png_height(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[20:24], "big")


def test_a_change_adds_one_lane_per_node_with_its_steps(tmp_path: Path):
    record = steady(6.0, failing=(2.0, 2.2))
    bands = [
        timeline.Band("cluster", "kube-apiserver", 1000.5, 1001.5),
        timeline.Band("kubelab-worker1", "cordon", 1001.5, 1001.6),
        timeline.Band("kubelab-worker1", "drain", 1001.6, 1003.0),
        timeline.Band("kubelab-worker2", "kubelet", 1003.0, 1004.0),
    ]
    plain = timeline.draw(record, [], "test", tmp_path / "plain.png")
    changed = timeline.draw(record, [], "test", tmp_path / "bands.png", bands=bands)
    assert _png_height(changed) > _png_height(plain)  # the lanes are drawn
    more = [*bands, timeline.Band("kubelab-worker3", "uncordon", 1004.0, 1004.1)]
    assert _png_height(timeline.draw(record, [], "t", tmp_path / "more.png", bands=more)) > (
        _png_height(changed)
    )


def test_each_kind_of_step_has_its_colour():
    colours = [timeline.step_colour(s) for s in ("cordon", "drain", "kubelet", "uncordon")]
    assert len(set(colours)) == 4
    assert timeline.step_colour("containerd restart") == timeline.STEP_COLOURS["containerd"]
    assert timeline.step_colour("kube-proxy to nftables") == timeline.STEP_COLOURS["kube-proxy"]
    assert timeline.step_colour("something new") == timeline.OTHER_STEP
    assert timeline.COLOURS["failed"] not in timeline.STEP_COLOURS.values()


def test_pictures_drawn_later_are_drawn_at_the_end_in_order(tmp_path: Path):
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    timeline.draw_later(functools.partial(timeline.draw, steady(2.0), [], "a", first))
    timeline.draw_later(functools.partial(timeline.draw, steady(1.0), [], "b", second))
    assert not first.exists()  # nothing drawn during the scenario
    assert not second.exists()
    assert timeline.draw_pending() == [first, second]
    assert first.read_bytes()[:8] == second.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert timeline.draw_pending() == []  # each once


def deployment(generation: int, observed: int, updated: int, total: int, available: int):
    return SimpleNamespace(
        metadata=SimpleNamespace(name="web", generation=generation),
        spec=SimpleNamespace(replicas=3),
        status=SimpleNamespace(
            observed_generation=observed,
            updated_replicas=updated,
            replicas=total,
            available_replicas=available,
        ),
    )


@pytest.mark.parametrize(
    ("state", "said"),
    [
        ((2, 1, 3, 3, 3), "Waiting for deployment spec update to be observed..."),
        ((2, 2, 1, 4, 3), "rollout to finish: 1 out of 3 new replicas have been updated..."),
        ((2, 2, 3, 4, 3), "rollout to finish: 1 old replicas are pending termination..."),
        ((2, 2, 3, 3, 2), "rollout to finish: 2 of 3 updated replicas are available..."),
        ((2, 2, 3, 3, 3), 'deployment "web" successfully rolled out'),
    ],
)
def test_deployment_progress_in_kubectl_rollout_status_words(state, said):
    from kubelab.states import rollout_status

    assert rollout_status(deployment(*state)).endswith(said)


def test_pods_that_neither_start_nor_end_are_drawn_without_a_warning(tmp_path: Path, recwarn):
    """A change that leaves every pod alone (a kube-proxy switch): lanes, but no marks."""
    lives = [(PodLife("web-a", "kubelab.local/web:1.0", before=True), "1.0")]
    timeline.draw(steady(2.0), [], "test", tmp_path / "t.png", lives=lives)
    assert [str(w.message) for w in recwarn] == []
