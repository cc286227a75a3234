"""Cap glibc's malloc arenas in a long-running server, so its memory stays flat.

glibc gives each thread that allocates under contention its own arena (up to 8 per core), and
memory freed in one arena is not reused by threads of another. The chat answers on a pool of
worker threads, so a desk of users slowly spreads the heap over many arenas: a 10-minute soak
(scripts/soak.py, 20 users) grew 6-11 MB/min after warm-up. With the arenas capped at 2 the same
soak grew 0.9 MB/min and passed (README, "Running it for a team"). Same as setting
MALLOC_ARENA_MAX, but it cannot be forgotten in a service file.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)
M_ARENA_MAX = -8  # from glibc's malloc.h


def cap_malloc_arenas(arenas: int | None) -> bool:
    """Cap the arenas (None or 0: leave malloc alone); False where malloc is not glibc's."""
    if not arenas:
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):  # musl, macOS, Windows: no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = bool(mallopt(M_ARENA_MAX, int(arenas)))
    if not ok:
        log.warning("mallopt(M_ARENA_MAX, %s) was refused", arenas)
    return ok
