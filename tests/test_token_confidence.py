"""The token-confidence measurement (scripts/token_confidence.py): what its logits processor
records, and that it leaves generation unchanged."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from token_confidence import ChosenLogprobs, statistics


def test_records_the_log_probability_of_the_greedy_token() -> None:
    recorder = ChosenLogprobs()
    logits = np.array([2.0, 0.0, -1.0, 2.0 - math.log(3.0)], dtype=np.float32)
    before = logits.copy()
    out = recorder(np.array([1, 2, 3]), logits)
    assert out is logits and np.array_equal(out, before)  # sampling sees the same logits
    expected = 2.0 - math.log(sum(math.exp(v) for v in before.astype(float)))
    assert recorder.values == [pytest.approx(expected, abs=1e-6)]
    recorder(np.array([1]), np.array([50.0, 0.0], dtype=np.float32))  # a certain token
    assert recorder.values[-1] == pytest.approx(0.0, abs=1e-9)


def test_statistics_leave_out_the_end_token_and_rise_with_confidence() -> None:
    sure = statistics([-0.01, -0.02, -0.01, -9.0])  # the end-of-turn token is not counted
    unsure = statistics([-0.01, -2.5, -1.2, -0.01])
    assert sure["min"] == pytest.approx(-0.02)
    assert all(sure[k] > unsure[k] for k in ("mean", "min", "10th percentile",
                                             "share of tokens at p >= 0.37"))
