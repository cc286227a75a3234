"""First come, first served turns at the answer model, with each waiter's place in line.

On a 2-core machine the model answers one question at a time; four people asking at once
must see where their question is ("2 answers ahead of yours") instead of an empty box. The
chat lets many questions be searched at once and only their model step queues here, so a
quote-only answer never waits behind a model's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class Place:
    """One question's place in the line; `wait` returns True once it is its turn."""

    line: WaitLine
    ticket: int
    admitted: bool = False

    def wait(self, timeout: float) -> bool:
        if not self.admitted:
            self.admitted = self.line._admit(self.ticket, timeout)
        return self.admitted

    @property
    def ahead(self) -> int:
        """Answers being written or waiting before this one."""
        return self.line._ahead(self.ticket)


class WaitLine:
    """At most `capacity` holders at once; the others wait in arrival order."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._cond = threading.Condition()
        self._waiting: list[int] = []
        self._running = 0
        self._next = 0

    @contextmanager
    def place(self) -> Iterator[Place]:
        """A place at the end of the line, given up when the block ends (even by an error
        or a closed chat), so nobody behind it waits for an answer no one reads."""
        with self._cond:
            ticket = self._next
            self._next += 1
            self._waiting.append(ticket)
        place = Place(self, ticket)
        try:
            yield place
        finally:
            with self._cond:
                if place.admitted:
                    self._running -= 1
                else:
                    self._waiting.remove(ticket)
                self._cond.notify_all()

    @property
    def idle(self) -> bool:
        """Nobody holds or waits for a place: the model is not writing."""
        with self._cond:
            return self._running == 0 and not self._waiting

    def _admit(self, ticket: int, timeout: float) -> bool:
        with self._cond:
            ready = self._cond.wait_for(
                lambda: self._waiting[0] == ticket and self._running < self.capacity, timeout
            )
            if ready:
                self._waiting.pop(0)
                self._running += 1
                self._cond.notify_all()
            return ready

    def _ahead(self, ticket: int) -> int:
        with self._cond:
            if ticket not in self._waiting:
                return 0  # its turn already
            return self._running + self._waiting.index(ticket)
