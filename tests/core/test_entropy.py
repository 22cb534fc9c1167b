"""``core/entropy.py``: random bytes handed out from blocks of OS randomness."""

from __future__ import annotations

import os
import threading
import warnings

import pytest

from core import entropy
from core.entropy import random_bytes


@pytest.mark.parametrize("count", [0, 1, 12, 16, 1023, 1024, 1025, 4096, 4097, 100_000])
def test_random_bytes_returns_the_requested_length(count: int) -> None:
    assert len(random_bytes(count)) == count


def test_consecutive_values_differ() -> None:
    values = [random_bytes(12) for _ in range(2000)]  # several blocks' worth
    assert len(set(values)) == len(values)


def test_draws_larger_than_a_block_differ() -> None:
    assert random_bytes(5000) != random_bytes(5000)


def test_two_threads_drawing_at_once_never_get_the_same_value() -> None:
    drawn: list[list[bytes]] = [[], []]
    together = threading.Barrier(2)

    def draw(slot: int) -> None:
        together.wait()
        drawn[slot] = [random_bytes(12) for _ in range(20_000)]

    threads = [threading.Thread(target=draw, args=(slot,)) for slot in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    values = drawn[0] + drawn[1]
    assert len(values) == 40_000
    assert len(set(values)) == len(values)


def test_a_thread_never_takes_bytes_from_another_thread_s_block() -> None:
    """White-box: under the GIL a draw never yields to another thread, so sharing one
    block would not show up as duplicates; it shows as bytes missing from this block."""
    random_bytes(12)
    if len(entropy._block.data) - entropy._block.used < 12:
        random_bytes(12)  # too little left: this draw starts a fresh block
    block = entropy._block
    upcoming = block.data[block.used : block.used + 12]
    elsewhere: list[bytes] = []
    thread = threading.Thread(target=lambda: elsewhere.append(random_bytes(12)))
    thread.start()
    thread.join()
    assert elsewhere != [upcoming]
    assert random_bytes(12) == upcoming


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_repeat_its_parent_s_bytes() -> None:
    random_bytes(12)  # the parent holds a partly used block the child inherits
    reader, writer = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns when a process with threads forks; the child here only
        # writes to a pipe and exits, taking no lock another thread could hold.
        warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: report its next bytes, then leave without pytest's cleanup
        try:
            os.close(reader)
            os.write(writer, random_bytes(16))
        finally:
            os._exit(0)
    os.close(writer)
    try:
        parents = random_bytes(16)
        childs = b""
        while chunk := os.read(reader, 16):
            childs += chunk
    finally:
        os.close(reader)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(childs) == 16
    assert childs != parents
