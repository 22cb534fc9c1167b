"""Random bytes for ids and nonces, read from the operating system in blocks.

Every message takes a random id and one or two 96-bit AES-GCM nonces. One
``getrandom`` system call each cost about 7 µs on the benchmark machine, as much as
sealing the message; reading 4 KiB at a time costs that once per few hundred values.
The bytes are the operating system's CSPRNG output either way, never a seeded
generator's. Secret keys do not come from here (:mod:`core.crypto.envelope` asks the
library's own generator for them), so a memory dump exposes at most upcoming ids
and nonces, which are public once used.

Each thread has its own block, so two threads never hand out the same bytes; a
forked child drops its parent's block, so parent and child never share one either.
"""

from __future__ import annotations

import os
import threading

_BLOCK = 4096


class _Block(threading.local):
    def __init__(self) -> None:
        self.data = b""
        self.used = 0


_block = _Block()


def random_bytes(count: int) -> bytes:
    """Return ``count`` bytes from the operating system's CSPRNG."""
    block = _block
    end = block.used + count
    if end > len(block.data):
        if count > _BLOCK // 4:
            return os.urandom(count)
        block.data = os.urandom(_BLOCK)
        block.used, end = 0, count
    chunk = block.data[block.used : end]
    block.used = end
    return chunk


def _forget_after_fork() -> None:
    global _block
    _block = _Block()


os.register_at_fork(after_in_child=_forget_after_fork)
