"""What follows a model answer the claim check rejected entirely: quotes, or a refusal.

Quoting the passage closest to the rejected answer helps when the question is answerable
(the model mostly leans on the right sentence and adds wrong words), but it turns a rightly
rejected answer to an unanswerable question into a quote of a near-topic passage. The gate's
margin decides which is likelier; the margin below which a rejected answer is refused is
fitted by `scripts/fit_fallback.py` and stored in `qa/data/fallback.json`. Measured on the
held-out half it refused as many answerable questions more as unanswerable ones, so it is
off unless `on_unsupported="fitted"` (README, "Whole path").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from qa.gate import Decision

DEFAULT_FALLBACK_FILE = Path(__file__).parent / "data" / "fallback.json"
#: the refusal benchmark's names (scripts/bench_refusals.py) for answers the check rejected
REJECTED_PATHS = ("quotes after rejection", "refused after rejection")


@dataclass(frozen=True)
class FittedFallback:
    refuse_below_margin: float | None  # None: always quote
    gate_fitted_at: str  # the gate whose margins it was fitted on

    def refuses(self, decision: Decision) -> bool:
        """Refuse rather than quote after a rejected answer, for this gate decision."""
        return (self.refuse_below_margin is not None and decision.method == "fitted"
                and decision.margin < self.refuse_below_margin)


@lru_cache(maxsize=4)
def load_fallback(path: Path, gate_fitted_at: str | None) -> FittedFallback | None:
    """The fitted fallback, or None (always quote) when there is none or it was fitted on
    another gate than the one in use: margins of a refitted gate mean something else."""
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    fallback = FittedFallback(data["refuse_below_margin"], data["gate_fitted_at"])
    return fallback if fallback.gate_fitted_at == gate_fitted_at else None
