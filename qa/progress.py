"""A terminal progress bar for long work (indexing), shared by the CLI and the chat server.

Lives on its own so neither user interface imports the other for it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


def progress_bar() -> Callable[[str, int, int], None]:
    """Adapt indexing progress callbacks to tqdm bars on stderr."""
    from tqdm import tqdm

    bars: dict[str, Any] = {}
    labels = {"scan": "Reading files", "embed": "Embedding chunks", "write": "Writing index"}

    def update(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            if total == 0:
                return
            bar = bars[stage] = tqdm(total=total, desc=labels.get(stage, stage), unit="",
                                     file=sys.stderr, leave=True)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return update
