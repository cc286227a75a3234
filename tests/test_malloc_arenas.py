"""The chat server caps glibc's malloc arenas (the soak's memory stayed flat only with it)."""

from __future__ import annotations

import platform

import pytest

from qa.malloc_arenas import cap_malloc_arenas


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="mallopt is glibc's")
def test_glibc_takes_the_cap() -> None:
    assert cap_malloc_arenas(2) is True


def test_zero_or_unset_leaves_malloc_alone() -> None:
    assert cap_malloc_arenas(0) is False
    assert cap_malloc_arenas(None) is False
