"""The quick soak (scripts/soak.py --quick): signed-in readers ask while an editor uploads and
removes articles; no error response, no wrong answer, every index generation whole.

Needs the app's sign-in (QA_USERS_FILE) and its `/upload_articles` and `/remove_article`
endpoints; it starts its own app process on a free port (about 45 s of soak after start-up).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from soak import QUICK, run_soak


@pytest.mark.slow
def test_quick_soak_holds() -> None:
    result = run_soak(users=int(QUICK["users"]), seconds=float(QUICK["seconds"]),
                      log=lambda line: print(line, flush=True))
    print(result.markdown())
    assert result.ok, result.markdown() + "\n\nServer log:\n" + result.server_log_tail
    assert result.modes["quote-only"].n >= 20 and result.modes["quote-only"].errors == 0
    assert set(result.checks.values()) == {"ok"} and len(result.checks) == 4
    assert result.changes >= 4 and result.modes["upload"].errors == 0
    assert result.generations_checked >= result.changes + 2 and not result.generations_bad
    assert len(result.rss_mb) >= 5 and result.rss_max_mb is not None
