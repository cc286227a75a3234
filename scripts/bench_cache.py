"""What the fitting scripts share: the cache folder, its keys, and the fit/report split.

The public questions are split by a hash of their id, so a question's instances of every
kind (answerable, document dropped, detail left out) fall in the same half.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

CACHE = Path("/tmp/fit_gate_cache")


def half(qid: str) -> str:
    return "fit" if int(hashlib.sha1(qid.encode()).hexdigest(), 16) % 2 == 0 else "report"


def cache_key(*parts: object) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]
