"""The probability of a fitted logistic decision (the answer gate, the claim check).

Both store weights over named features in a small JSON file; this is the one formula that
turns a feature dict into P, clipped so an extreme feature cannot overflow `exp`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def logistic(bias: float, weights: Sequence[float], names: Sequence[str],
             values: Mapping[str, float]) -> float:
    z = bias + sum(w * values[f] for w, f in zip(weights, names, strict=True))
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))
