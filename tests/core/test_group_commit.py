"""GroupCommit: shared transactions, answered after commit, in order, failures to each caller."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from core.errors import ConflictError, StorageError
from core.storage.sql.group_commit import GroupCommit


class FakeDatabase:
    """Records each transaction's requests; commits when told to."""

    def __init__(self) -> None:
        self.transactions: list[list[str]] = []
        self.started = asyncio.Event()
        self.committed: list[str] = []
        self.release = asyncio.Event()
        self.release.set()
        self.bad: set[str] = set()
        self.failing: Exception | None = None

    async def run(self, requests: Sequence[str]) -> list[str | Exception]:
        self.transactions.append(list(requests))
        self.started.set()
        await self.release.wait()
        if self.failing is not None:
            raise self.failing
        if len(requests) > 1 and self.bad & set(requests):
            raise ConflictError("duplicate id")  # the whole transaction rolls back
        if self.bad & set(requests):
            raise ConflictError(f"{requests[0]} is a duplicate")
        self.committed.extend(requests)
        return [
            StorageError(f"{r} is gone") if r.startswith("gone") else r.upper() for r in requests
        ]


async def test_concurrent_requests_share_one_transaction_in_submission_order() -> None:
    db = FakeDatabase()
    commits = GroupCommit(db.run)
    names = [f"r{n}" for n in range(10)]
    results = await asyncio.gather(*(commits.submit(name) for name in names))
    assert results == [name.upper() for name in names]
    assert db.transactions == [names]
    assert commits.batches == 1


async def test_no_caller_is_answered_before_its_transaction_commits() -> None:
    db = FakeDatabase()
    db.release.clear()
    commits = GroupCommit(db.run)
    tasks = [asyncio.create_task(commits.submit(f"r{n}")) for n in range(5)]
    await db.started.wait()
    for _ in range(20):
        await asyncio.sleep(0)
    assert not any(task.done() for task in tasks)
    assert db.committed == []
    db.release.set()
    assert await asyncio.gather(*tasks) == ["R0", "R1", "R2", "R3", "R4"]
    assert db.committed == ["r0", "r1", "r2", "r3", "r4"]


async def test_requests_arriving_during_a_commit_form_the_next_transaction() -> None:
    db = FakeDatabase()
    db.release.clear()
    commits = GroupCommit(db.run)
    first = asyncio.create_task(commits.submit("a"))
    await db.started.wait()
    later = [asyncio.create_task(commits.submit(name)) for name in ("b", "c")]
    await asyncio.sleep(0)
    db.release.set()
    assert await first == "A" and await asyncio.gather(*later) == ["B", "C"]
    assert db.transactions == [["a"], ["b", "c"]]


async def test_a_request_that_breaks_the_transaction_fails_alone() -> None:
    db = FakeDatabase()
    db.bad = {"r2"}
    commits = GroupCommit(db.run)
    results = await asyncio.gather(
        *(commits.submit(f"r{n}") for n in range(4)), return_exceptions=True
    )
    assert results[:2] == ["R0", "R1"] and results[3] == "R3"
    assert isinstance(results[2], ConflictError)
    assert db.committed == ["r0", "r1", "r3"]  # retried one by one, r2 never written
    assert db.transactions[0] == ["r0", "r1", "r2", "r3"]


async def test_an_outcome_of_one_request_reaches_only_its_caller() -> None:
    db = FakeDatabase()
    commits = GroupCommit(db.run)
    results = await asyncio.gather(
        commits.submit("r0"), commits.submit("gone1"), commits.submit("r2"), return_exceptions=True
    )
    assert results[0] == "R0" and results[2] == "R2"
    assert isinstance(results[1], StorageError) and "gone1" in str(results[1])
    assert commits.batches == 1


async def test_a_database_failure_reaches_every_caller_without_retries() -> None:
    db = FakeDatabase()
    db.failing = StorageError("disk I/O error")
    commits = GroupCommit(db.run)
    results = await asyncio.gather(
        *(commits.submit(f"r{n}") for n in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, StorageError) and "disk" in str(r) for r in results)
    assert db.transactions == [["r0", "r1", "r2"]]


async def test_a_caller_cancelled_while_queued_is_not_written_and_others_are() -> None:
    db = FakeDatabase()
    db.release.clear()
    commits = GroupCommit(db.run)
    first = asyncio.create_task(commits.submit("a"))
    await db.started.wait()
    cancelled = asyncio.create_task(commits.submit("b"))
    kept = asyncio.create_task(commits.submit("c"))
    await asyncio.sleep(0)
    cancelled.cancel()
    db.release.set()
    assert await first == "A" and await kept == "C"
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert db.committed == ["a", "c"]


async def test_batches_are_capped_and_keep_the_order() -> None:
    db = FakeDatabase()
    commits = GroupCommit(db.run, max_batch=3)
    names = [f"r{n}" for n in range(7)]
    assert await asyncio.gather(*(commits.submit(n) for n in names)) == [n.upper() for n in names]
    assert db.transactions == [names[0:3], names[3:6], names[6:7]]


async def test_drain_waits_for_everything_submitted() -> None:
    db = FakeDatabase()
    db.release.clear()
    commits = GroupCommit(db.run)
    task = asyncio.create_task(commits.submit("a"))
    await asyncio.sleep(0)
    drained = asyncio.create_task(commits.drain())
    await asyncio.sleep(0)
    assert not drained.done()
    db.release.set()
    await drained
    assert task.done() and task.result() == "A"


async def test_the_retry_rule_can_be_chosen() -> None:
    db = FakeDatabase()
    db.bad = {"r1"}
    commits = GroupCommit(db.run, may_be_one_requests_doing=lambda error: False)
    results = await asyncio.gather(
        *(commits.submit(f"r{n}") for n in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, ConflictError) for r in results)
    assert len(db.transactions) == 1


# -- lone_at_once: the first request of a quiet turn is written in its caller's task --


class SyncDatabase(FakeDatabase):
    """Commits without waiting, as SQLite on the event loop's thread does."""

    def __init__(self) -> None:
        super().__init__()
        self.tasks: list[asyncio.Task[object] | None] = []

    async def run(self, requests: Sequence[str]) -> list[str | Exception]:
        self.tasks.append(asyncio.current_task())
        return await super().run(requests)


async def test_a_lone_request_is_written_in_its_callers_task_without_a_turn() -> None:
    db = SyncDatabase()
    commits = GroupCommit(db.run, lone_at_once=True)
    caller = asyncio.current_task()
    assert await commits.submit("a") == "A"
    assert db.tasks == [caller] and db.transactions == [["a"]]
    assert commits.idle and commits.batches == 1
    await asyncio.sleep(0)  # a new turn: the next lone request goes at once too
    assert await commits.submit("b") == "B"
    assert db.tasks == [caller, caller]


async def test_requests_of_the_same_turn_after_a_lone_one_share_the_next_transaction() -> None:
    db = SyncDatabase()
    commits = GroupCommit(db.run, lone_at_once=True)
    names = [f"r{n}" for n in range(6)]
    assert await asyncio.gather(*(commits.submit(n) for n in names)) == [n.upper() for n in names]
    # The first went at once (it finished without waiting); the other five, ready in
    # the same turn, were queued and share one commit, in submission order.
    assert db.transactions == [names[:1], names[1:]]


async def test_requests_arriving_while_a_lone_one_is_written_queue_behind_it() -> None:
    db = FakeDatabase()
    db.release.clear()
    commits = GroupCommit(db.run, lone_at_once=True)
    first = asyncio.create_task(commits.submit("a"))
    await db.started.wait()
    assert not commits.idle
    later = [asyncio.create_task(commits.submit(name)) for name in ("b", "c")]
    for _ in range(5):
        await asyncio.sleep(0)
    assert db.transactions == [["a"]]  # b and c wait for a's commit
    db.release.set()
    assert await first == "A" and await asyncio.gather(*later) == ["B", "C"]
    assert db.transactions == [["a"], ["b", "c"]]
    assert db.committed == ["a", "b", "c"]


async def test_a_lone_request_that_fails_fails_its_caller_only() -> None:
    db = SyncDatabase()
    db.bad = {"a"}
    commits = GroupCommit(db.run, lone_at_once=True)
    with pytest.raises(ConflictError, match="a is a duplicate"):
        await commits.submit("a")
    assert commits.idle
    await asyncio.sleep(0)
    assert await commits.submit("b") == "B"


async def test_a_cancelled_lone_caller_does_not_strand_the_queue_and_drain_waits() -> None:
    db = FakeDatabase()
    db.release.clear()
    commits = GroupCommit(db.run, lone_at_once=True)
    lone = asyncio.create_task(commits.submit("a"))
    await db.started.wait()
    queued = asyncio.create_task(commits.submit("b"))
    drained = asyncio.create_task(commits.drain())
    await asyncio.sleep(0)
    assert not drained.done()
    lone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await lone
    db.release.set()
    assert await queued == "B"
    await drained
    assert commits.idle and db.committed == ["b"]


async def test_the_task_that_wrote_alone_may_go_on_alone_in_the_same_turn() -> None:
    db = SyncDatabase()
    commits = GroupCommit(db.run, lone_at_once=True)

    async def question_then_answer() -> list[str]:
        return [await commits.submit("question"), await commits.submit("answer")]

    asker = asyncio.create_task(question_then_answer())
    other = asyncio.create_task(commits.submit("other"))
    assert await asker == ["QUESTION", "ANSWER"] and await other == "OTHER"
    # Both of the asker's writes went at once, in its own task; the other task's,
    # ready in the same turn, was queued for the writer.
    assert db.tasks[:2] == [asker, asker] and db.tasks[2] is not other
    assert db.transactions == [["question"], ["answer"], ["other"]]
