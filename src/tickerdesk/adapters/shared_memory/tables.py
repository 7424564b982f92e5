"""The shared-memory segments of one `tickerdesk up --workers N`.

The core process makes them (`SharedTables.create`) before it starts the workers and
unlinks them when everything has stopped; each worker attaches them by name from the
handle it is given (`SharedTablesHandle.attach`). A segment's writers serialise on its
lock, an flock on a file of its own, which the kernel releases if its holder dies, so a
killed worker cannot wedge the others; readers of one aligned 64-bit word need none.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from dataclasses import dataclass
from multiprocessing import shared_memory
from types import TracebackType

LIMIT_SLOTS = 65_536  # token buckets (32 bytes each): far more than the users active at once
GENERATION_SLOTS = 262_144  # cache generations (8 bytes each): users share a slot by hash
PRICE_SLOTS = 8_192  # instruments (16 bytes each)
LISTENER_SLOTS = 65_536  # open streams per user slot (8 bytes each): users share a slot by hash


def key_hash(text: str) -> int:
    """A 64-bit hash every process computes alike (Python's `hash` of a str is salted
    per process); never 0, which marks an empty slot."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little") or 1


class FileLock:
    """An exclusive lock between processes: flock on a file each process opens itself.
    Not reentrant, and never held across an await."""

    def __init__(self, path: str):
        self.path = path
        self._fd = os.open(path, os.O_RDWR)

    def __enter__(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)


@dataclass(frozen=True)
class SegmentHandle:
    """What a process needs to attach a segment."""

    name: str
    size: int
    lock_path: str


class Segment:
    def __init__(self, memory: shared_memory.SharedMemory, size: int, lock: FileLock, *, owner: bool):
        self._memory = memory
        self.size = size
        self.lock = lock
        self._owner = owner
        self._views: list[memoryview] = []

    @classmethod
    def create(cls, size: int) -> Segment:
        """A new segment, zero-filled, with its lock file."""
        fd, lock_path = tempfile.mkstemp(prefix="tickerdesk-", suffix=".lock")
        os.close(fd)
        try:
            return cls(shared_memory.SharedMemory(create=True, size=size), size, FileLock(lock_path), owner=True)
        except BaseException:
            os.unlink(lock_path)
            raise

    @classmethod
    def attach(cls, handle: SegmentHandle) -> Segment:
        return cls(shared_memory.SharedMemory(name=handle.name), handle.size, FileLock(handle.lock_path),
                   owner=False)

    @property
    def handle(self) -> SegmentHandle:
        return SegmentHandle(self._memory.name, self.size, self.lock.path)

    def as_bytes(self) -> memoryview:
        """The segment as bytes (released when the segment is closed)."""
        view = self._buffer()[: self.size]
        self._views.append(view)
        return view

    def as_words(self) -> memoryview:
        """The segment as unsigned 64-bit words (the mapping is page-aligned, so each is aligned)."""
        view = self._buffer()[: self.size].cast("Q")
        self._views.append(view)
        return view

    def _buffer(self) -> memoryview:
        buffer = self._memory.buf
        if buffer is None:
            raise RuntimeError("the shared-memory segment is closed")
        return buffer

    def close(self) -> None:
        """Detach; the owner also removes the segment (attached processes keep their mapping)."""
        for view in self._views:
            view.release()
        self._views.clear()
        self._memory.close()
        self.lock.close()
        if self._owner:
            self._memory.unlink()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.lock.path)


class KeyedCounters:
    """A segment as one 64-bit counter per slot, keys mapped to slots by hash (keys that
    share a slot share its counter): the cache's generations, the open streams' counts."""

    def __init__(self, segment: Segment):
        self._words = segment.as_words()
        self._lock = segment.lock
        self._slots = len(self._words)

    def _slot(self, key: str) -> int:
        return key_hash(key) % self._slots

    def get(self, key: str) -> int:
        """One aligned word: read without the lock."""
        return int(self._words[self._slot(key)])

    def add(self, key: str, delta: int) -> None:
        """A read-modify-write every process shares, so under the lock; never below zero."""
        slot = self._slot(key)
        with self._lock:
            self._words[slot] = max(0, self._words[slot] + delta)


@dataclass(frozen=True)
class SharedTablesHandle:
    limits: SegmentHandle
    generations: SegmentHandle
    prices: SegmentHandle
    listeners: SegmentHandle

    def attach(self) -> SharedTables:
        return SharedTables(Segment.attach(self.limits), Segment.attach(self.generations),
                            Segment.attach(self.prices), Segment.attach(self.listeners))


class SharedTables:
    def __init__(self, limits: Segment, generations: Segment, prices: Segment, listeners: Segment):
        self.limits, self.generations, self.prices, self.listeners = limits, generations, prices, listeners

    @classmethod
    def create(cls, *, limit_slots: int = LIMIT_SLOTS, generation_slots: int = GENERATION_SLOTS,
               price_slots: int = PRICE_SLOTS, listener_slots: int = LISTENER_SLOTS) -> SharedTables:
        made: list[Segment] = []
        try:
            for size in (limit_slots * 32, generation_slots * 8, price_slots * 16, listener_slots * 8):
                made.append(Segment.create(size))
        except BaseException:
            for segment in made:
                segment.close()
            raise
        return cls(*made)

    @property
    def handle(self) -> SharedTablesHandle:
        return SharedTablesHandle(self.limits.handle, self.generations.handle, self.prices.handle,
                                  self.listeners.handle)

    def close(self) -> None:
        for segment in (self.limits, self.generations, self.prices, self.listeners):
            segment.close()
