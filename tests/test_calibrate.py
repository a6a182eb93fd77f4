"""Calibration statistics: exact running moments, persistence, and the prior for sparse modalities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vigil_server.calibrate import MIN_SEGMENTS, PRIOR_MEAN, PRIOR_STD, Calibrator, RunningStats
from vigil_server.types import Modality


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_running_stats_match_numpy() -> None:
    rng = np.random.default_rng(0)
    batches = [rng.normal(0.3, 0.1, size=n) for n in (5, 17, 1, 40)]
    stats = RunningStats()
    for batch in batches:
        stats.add(batch)
    everything = np.concatenate(batches)
    assert stats.count == everything.size and stats.segments == len(batches)
    assert stats.mean == pytest.approx(everything.mean(), abs=1e-9)
    assert stats.std == pytest.approx(everything.std(), abs=1e-9)


def test_scores_are_z_scores_of_probe_cosines(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    probes = unit(rng.normal(size=(30, 16)))
    calibrator = Calibrator(probes, tmp_path / "cal.json")
    frames = unit(rng.normal(size=(MIN_SEGMENTS * 4, 16)) + 3.0)  # clustered: high baseline cosine
    calibrator.observe(Modality.FRAME, frames)
    cosines = frames @ probes.T
    c = calibrator.calibration(Modality.FRAME)
    assert c.mean == pytest.approx(cosines.mean(), abs=1e-5)
    assert c.std == pytest.approx(cosines.std(), abs=1e-5)
    assert calibrator.score(Modality.FRAME, c.mean + 2 * c.std) == pytest.approx(2.0)


def test_unobserved_modality_uses_the_prior_and_few_segments_lean_on_it(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    probes = unit(rng.normal(size=(10, 8)))
    calibrator = Calibrator(probes, None)
    assert calibrator.calibration(Modality.SOUND).mean == PRIOR_MEAN
    assert calibrator.calibration(Modality.SOUND).std == PRIOR_STD
    one = unit(rng.normal(size=(1, 8)) + 5.0)
    calibrator.observe(Modality.SOUND, one)
    observed_mean = float((one @ probes.T).mean())
    expected = observed_mean / MIN_SEGMENTS + PRIOR_MEAN * (1 - 1 / MIN_SEGMENTS)
    assert calibrator.calibration(Modality.SOUND).mean == pytest.approx(expected, abs=1e-6)


def test_statistics_survive_a_restart(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    probes = unit(rng.normal(size=(12, 8)))
    path = tmp_path / "cal.json"
    first = Calibrator(probes, path)
    first.observe(Modality.SPEECH, unit(rng.normal(size=(9, 8))))
    first.save()
    second = Calibrator(probes, path)
    assert second.calibration(Modality.SPEECH) == first.calibration(Modality.SPEECH)
    other_probes = Calibrator(unit(rng.normal(size=(5, 8))), path)  # made with other probes: not reused
    assert other_probes.calibration(Modality.SPEECH).mean == PRIOR_MEAN


def test_a_corrupt_file_starts_afresh(tmp_path: Path) -> None:
    path = tmp_path / "cal.json"
    path.write_text("{not json")
    calibrator = Calibrator(unit(np.eye(4, dtype=np.float32)), path)
    assert calibrator.calibration(Modality.FRAME).std == PRIOR_STD
