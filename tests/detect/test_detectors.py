"""The contract every detector keeps, River's wrappers against River, and the state's bytes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from river import drift

from vigil.detect import (
    DETECTORS,
    STREAMS_EXTRA,
    DetectorConfig,
    check_params,
    make_detector,
    restore,
)


def config(name: str, stream: str | None = None, **params: object) -> DetectorConfig:
    kind = DETECTORS[name]
    return DetectorConfig(name, check_params(name, params, where="test"), stream or kind.inputs[-1])  # type: ignore[arg-type]


def stream_for(kind: str, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    if kind == "binary":
        p = np.r_[np.full(1500, 0.05), np.full(1500, 0.3)]
        return (rng.random(p.size) < p).astype(float).tolist()
    return np.r_[rng.normal(0, 1, 1500), rng.normal(2, 1, 1500)].tolist()


def fired(detector: object, x: list[float]) -> list[int]:
    return [i for i, v in enumerate(x) if detector.update(v)]  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_every_detector_finds_the_change_and_continues_from_its_bytes(name: str) -> None:
    cfg = config(name)
    x = stream_for(cfg.stream, seed=3)
    whole = fired(
        make_detector(cfg, mean=float(np.mean(x[:1500])), sigma=float(np.std(x[:1500]))), x
    )
    assert any(i >= 1500 for i in whole), f"{name} never saw the change"

    mean, sigma = float(np.mean(x[:1500])), float(np.std(x[:1500]))
    first = make_detector(cfg, mean=mean, sigma=sigma)
    head = fired(first, x[:1000])
    again, reason = restore(cfg, first.dumps(), mean=mean, sigma=sigma)
    assert reason is None
    assert again.position == 1000
    tail = [i + 1000 for i in fired(again, x[1000:])]
    assert head + tail == whole


@pytest.mark.parametrize(
    ("name", "river_detector", "kind"),
    [
        ("adwin", lambda: drift.ADWIN(delta=0.002), "numeric"),
        (
            "page_hinkley",
            lambda: drift.PageHinkley(min_instances=30, delta=0.005, threshold=50.0),
            "numeric",
        ),
        (
            "kswin",
            lambda: drift.KSWIN(alpha=0.005, window_size=100, stat_size=30, seed=0),
            "numeric",
        ),
        ("ddm", lambda: drift.binary.DDM(warm_start=30, drift_threshold=3.0), "binary"),
        ("eddm", lambda: drift.binary.EDDM(warm_start=30, alpha=0.95, beta=0.9), "binary"),
        ("hddm_a", lambda: drift.binary.HDDMA(drift_confidence=0.001), "binary"),
        ("hddm_w", lambda: drift.binary.HDDMW(drift_confidence=0.001, lambda_val=0.05), "binary"),
    ],
)
def test_the_wrappers_fire_where_river_fires(name: str, river_detector: object, kind: str) -> None:
    x = stream_for(kind, seed=11)
    ours = make_detector(DetectorConfig(name, DETECTORS[name].defaults, kind))  # type: ignore[arg-type]
    theirs = river_detector()  # type: ignore[operator]
    expected = []
    for i, v in enumerate(x):
        theirs.update(v)
        if theirs.drift_detected:
            expected.append(i)
    assert fired(ours, x) == expected


def test_state_of_another_river_version_or_other_parameters_starts_fresh() -> None:
    cfg = config("adwin", "numeric")
    detector = make_detector(cfg)
    fired(detector, stream_for("numeric", seed=1)[:500])
    state = detector.dumps()
    line, _, payload = state.partition(b"\n")
    head = json.loads(line)
    head["library"] = "river 0.0.1"
    other = json.dumps(head, sort_keys=True).encode() + b"\n" + payload
    fresh, reason = restore(cfg, other)
    assert fresh.position == 0
    assert reason is not None and "library" in reason and "river 0.0.1" in reason

    fresh, reason = restore(config("adwin", "numeric", delta=0.01), state)
    assert fresh.position == 0 and reason is not None and "params" in reason

    fresh, reason = restore(
        config("cusum", "numeric"), make_detector(config("cusum", "numeric")).dumps(), mean=1.0
    )
    assert fresh.position == 0 and reason is not None and "mean" in reason


@pytest.mark.parametrize("state", [b"", b"not json\n", b'{"envelope": 1}\n', b"\xff\xfe"])
def test_unreadable_state_starts_fresh_with_a_reason(state: bytes) -> None:
    fresh, reason = restore(config("cusum", "numeric"), state)
    assert fresh.position == 0
    assert reason is not None


def test_a_corrupt_payload_under_a_good_envelope_starts_fresh() -> None:
    cfg = config("ddm", "binary")
    line = make_detector(cfg).dumps().partition(b"\n")[0]
    fresh, reason = restore(cfg, line + b"\ngarbage")
    assert fresh.position == 0 and reason is not None and "could not be read" in reason


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("adwinn", {}, "unknown detector 'adwinn'; use one of adwin, cusum, ddm"),
        ("adwin", {"alpha": 0.1}, "adwin has no parameter 'alpha'; it takes clock, delta"),
        ("adwin", {"delta": "small"}, "adwin.delta must be float; got 'small'"),
        ("cusum", {"h": float("nan")}, "cusum.h must be a finite number"),
        ("kswin", {"window_size": 1.5}, "kswin.window_size must be int"),
        ("hddm_a", {"two_sided_test": 1}, "hddm_a.two_sided_test must be bool"),
        ("ddm", {"warm_start": True}, "ddm.warm_start must be int"),
    ],
)
def test_bad_parameters_name_the_detector_and_key(
    name: str, params: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        check_params(name, params, where="models.credit.streams[0]")


def test_a_binary_detector_refuses_a_numeric_stream() -> None:
    with pytest.raises(ValueError, match="ddm reads binary streams; got a numeric stream"):
        make_detector(DetectorConfig("ddm", DETECTORS["ddm"].defaults, "numeric"))


def test_without_river_only_cusum_runs_and_the_others_say_what_to_install() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["river"] = None  # as if the streams extra were not installed
        from vigil.detect import DETECTORS, DetectorConfig, make_detector
        d = make_detector(DetectorConfig("cusum", DETECTORS["cusum"].defaults, "numeric"))
        print(sum(d.update(x) for x in [0.0] * 50 + [3.0] * 5))
        try:
            make_detector(DetectorConfig("adwin", DETECTORS["adwin"].defaults, "numeric"))
        except ImportError as error:
            print(error)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()
    assert lines[0] == "1"
    assert "detector adwin is River's" in lines[1] and STREAMS_EXTRA in lines[1]


def test_cusum_and_adwin_find_an_abrupt_2_sigma_shift_and_stay_quiet_when_stable() -> None:
    """The harness (bench/detectors.py) in small: seeded, counts only."""
    for name in ("cusum", "adwin"):
        delays, false_alarms = [], 0
        for seed in range(5):
            rng = np.random.default_rng([2026, seed])
            stable = rng.normal(10.0, 3.0, 20_000)
            shifted = rng.normal(10.0 + 2 * 3.0, 3.0, 2_000)
            detector = make_detector(config(name, "numeric"), mean=10.0, sigma=3.0)
            false_alarms += len(fired(detector, stable.tolist()))
            hits = fired(detector, shifted.tolist())
            delays.append(hits[0] + 1 if hits else None)
        # 100,000 stable values: ADWIN none; CUSUM at h = 12 at most one (the harness puts
        # both near one false alarm per million; h = 5 gives about 200 here, h = 8 about 10)
        assert false_alarms <= (1 if name == "cusum" else 0), (name, false_alarms)
        assert all(d is not None and d <= 100 for d in delays), (name, delays)
