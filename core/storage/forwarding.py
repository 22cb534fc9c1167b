"""A store that hands every call to another: the base of the layers around a backend.

The sealing layer (:mod:`core.crypto.sealing`) and the memory of conversations in
progress (:mod:`core.storage.caching`) each change a few calls and let the rest
through; this class lets them through once, so a wrapper overrides only what it does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from core.api_keys import ApiKey
from core.models import (
    ArchiveReason,
    Branch,
    ChannelSettings,
    Checkpoint,
    Message,
    NewMessage,
    Session,
    Worker,
)
from core.storage.protocols import SessionFilter, Store, SweepPlan
from core.storage.records import DeliveryAnswer
from core.storage.search import BlindTerms, TextSearch


class ForwardingStore:
    """Forwards every :class:`Store` call to ``inner`` unchanged.

    Args:
        inner: the store the calls go to.
    """

    def __init__(self, inner: Store) -> None:
        self.inner = inner

    async def open(self) -> None:
        """Open the inner store."""
        await self.inner.open()

    async def close(self) -> None:
        """Close the inner store."""
        await self.inner.close()

    async def schema_current(self) -> bool:
        """See :meth:`Store.schema_current`."""
        return await self.inner.schema_current()

    async def start_session(
        self,
        session: Session,
        root: Branch,
        *,
        archive_id: str | None = None,
        archive_reason: ArchiveReason | None = None,
    ) -> Session:
        """See :meth:`Store.start_session`."""
        return await self.inner.start_session(
            session, root, archive_id=archive_id, archive_reason=archive_reason
        )

    async def get_session(self, session_id: str) -> Session | None:
        """See :meth:`Store.get_session`."""
        return await self.inner.get_session(session_id)

    async def get_active_session(self, scope_key: str) -> Session | None:
        """See :meth:`Store.get_active_session`."""
        return await self.inner.get_active_session(scope_key)

    async def list_sessions(
        self, where: SessionFilter, *, limit: int, offset: int = 0
    ) -> list[Session]:
        """See :meth:`Store.list_sessions`."""
        return await self.inner.list_sessions(where, limit=limit, offset=offset)

    async def count_sessions(self, where: SessionFilter) -> int:
        """See :meth:`Store.count_sessions`."""
        return await self.inner.count_sessions(where)

    async def archive_session(self, session_id: str, reason: ArchiveReason, at: datetime) -> bool:
        """See :meth:`Store.archive_session`."""
        return await self.inner.archive_session(session_id, reason, at)

    async def activate_session(
        self, session_id: str, at: datetime, *, displaced_reason: ArchiveReason
    ) -> Session | None:
        """See :meth:`Store.activate_session`."""
        return await self.inner.activate_session(session_id, at, displaced_reason=displaced_reason)

    async def update_session(
        self,
        session_id: str,
        at: datetime,
        *,
        title: str | None = None,
        tags: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        expect_updated_at: datetime | None = None,
    ) -> Session | None:
        """See :meth:`Store.update_session`."""
        return await self.inner.update_session(
            session_id,
            at,
            title=title,
            tags=tags,
            metadata=metadata,
            expect_updated_at=expect_updated_at,
        )

    async def delete_session(self, session_id: str) -> bool:
        """See :meth:`Store.delete_session`."""
        return await self.inner.delete_session(session_id)

    async def archived_before(
        self, cutoff: datetime, *, keep_checkpointed: bool, limit: int
    ) -> list[str]:
        """See :meth:`Store.archived_before`."""
        return await self.inner.archived_before(
            cutoff, keep_checkpointed=keep_checkpointed, limit=limit
        )

    async def archive_due(self, plan: SweepPlan, now: datetime) -> list[Session]:
        """See :meth:`Store.archive_due`."""
        return await self.inner.archive_due(plan, now)

    async def stored_schedules(self) -> set[tuple[str | None, str | None]]:
        """See :meth:`Store.stored_schedules`."""
        return await self.inner.stored_schedules()

    async def get_branch(self, branch_id: str) -> Branch | None:
        """See :meth:`Store.get_branch`."""
        return await self.inner.get_branch(branch_id)

    async def branches_of(self, session_id: str) -> list[Branch]:
        """See :meth:`Store.branches_of`."""
        return await self.inner.branches_of(session_id)

    async def branches_forked_from(self, session_id: str) -> list[Branch]:
        """See :meth:`Store.branches_forked_from`."""
        return await self.inner.branches_forked_from(session_id)

    async def add_branch(self, branch: Branch) -> None:
        """See :meth:`Store.add_branch`."""
        await self.inner.add_branch(branch)

    async def switch_head(
        self, session_id: str, branch: Branch, at: datetime, *, undo: Checkpoint | None = None
    ) -> Session | None:
        """See :meth:`Store.switch_head`."""
        return await self.inner.switch_head(session_id, branch, at, undo=undo)

    async def reparent_branch(self, branch_id: str, parent_id: str | None, fork_seq: int) -> None:
        """See :meth:`Store.reparent_branch`."""
        await self.inner.reparent_branch(branch_id, parent_id, fork_seq)

    async def append_messages(
        self,
        session_id: str,
        messages: Sequence[NewMessage],
        ids: Sequence[str],
        at: datetime,
        *,
        expect_head: str | None = None,
        blind_terms: Sequence[BlindTerms] = (),
    ) -> list[Message]:
        """See :meth:`Store.append_messages`."""
        return await self.inner.append_messages(
            session_id, messages, ids, at, expect_head=expect_head, blind_terms=blind_terms
        )

    async def copy_messages(self, messages: Sequence[Message]) -> None:
        """See :meth:`Store.copy_messages`."""
        await self.inner.copy_messages(messages)

    async def read_messages(
        self,
        branch_id: str,
        *,
        min_seq: int = 1,
        max_seq: int | None = None,
        limit: int,
        newest_first: bool,
    ) -> list[Message]:
        """See :meth:`Store.read_messages`."""
        return await self.inner.read_messages(
            branch_id, min_seq=min_seq, max_seq=max_seq, limit=limit, newest_first=newest_first
        )

    async def get_message(self, message_id: str) -> Message | None:
        """See :meth:`Store.get_message`."""
        return await self.inner.get_message(message_id)

    async def rewrite_messages(self, messages: Sequence[Message]) -> None:
        """See :meth:`Store.rewrite_messages`."""
        await self.inner.rewrite_messages(messages)

    async def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """See :meth:`Store.add_checkpoint`."""
        await self.inner.add_checkpoint(checkpoint)

    async def get_checkpoint(self, checkpoint_id: str) -> Checkpoint | None:
        """See :meth:`Store.get_checkpoint`."""
        return await self.inner.get_checkpoint(checkpoint_id)

    async def list_checkpoints(self, session_id: str) -> list[Checkpoint]:
        """See :meth:`Store.list_checkpoints`."""
        return await self.inner.list_checkpoints(session_id)

    async def delete_checkpoint(self, checkpoint_id: str) -> bool:
        """See :meth:`Store.delete_checkpoint`."""
        return await self.inner.delete_checkpoint(checkpoint_id)

    async def rewrite_checkpoint(self, checkpoint: Checkpoint) -> None:
        """See :meth:`Store.rewrite_checkpoint`."""
        await self.inner.rewrite_checkpoint(checkpoint)

    async def count_checkpoints(self, session_id: str) -> int:
        """See :meth:`Store.count_checkpoints`."""
        return await self.inner.count_checkpoints(session_id)

    async def get_channel_settings(self, channel_key: str) -> ChannelSettings | None:
        """See :meth:`Store.get_channel_settings`."""
        return await self.inner.get_channel_settings(channel_key)

    async def put_channel_settings(self, settings: ChannelSettings) -> None:
        """See :meth:`Store.put_channel_settings`."""
        await self.inner.put_channel_settings(settings)

    async def claim_delivery(
        self, source: str, delivery_id: str, at: datetime, *, worker_id: str | None = None
    ) -> bool:
        """See :meth:`Store.claim_delivery`."""
        return await self.inner.claim_delivery(source, delivery_id, at, worker_id=worker_id)

    async def take_over_delivery(
        self, source: str, delivery_id: str, at: datetime, *, worker_id: str, alive_since: datetime
    ) -> bool:
        """See :meth:`Store.take_over_delivery`."""
        return await self.inner.take_over_delivery(
            source, delivery_id, at, worker_id=worker_id, alive_since=alive_since
        )

    async def finish_delivery(self, source: str, delivery_id: str, at: datetime) -> None:
        """See :meth:`Store.finish_delivery`."""
        await self.inner.finish_delivery(source, delivery_id, at)

    async def delivery_finished(self, source: str, delivery_id: str) -> bool | None:
        """See :meth:`Store.delivery_finished`."""
        return await self.inner.delivery_finished(source, delivery_id)

    async def forget_deliveries(self, before: datetime) -> int:
        """See :meth:`Store.forget_deliveries`."""
        return await self.inner.forget_deliveries(before)

    async def answer_delivery(
        self, source: str, delivery_id: str, at: datetime, answer: DeliveryAnswer
    ) -> None:
        """See :meth:`Store.answer_delivery`."""
        await self.inner.answer_delivery(source, delivery_id, at, answer)

    async def delivery_answer(self, source: str, delivery_id: str) -> DeliveryAnswer | None:
        """See :meth:`Store.delivery_answer`."""
        return await self.inner.delivery_answer(source, delivery_id)

    async def release_delivery(self, source: str, delivery_id: str) -> None:
        """See :meth:`Store.release_delivery`."""
        await self.inner.release_delivery(source, delivery_id)

    async def messages_per_minute(self, since: datetime) -> dict[datetime, int]:
        """See :meth:`Store.messages_per_minute`."""
        return await self.inner.messages_per_minute(since)

    async def sessions_ended(self, since: datetime) -> dict[ArchiveReason, int]:
        """See :meth:`Store.sessions_ended`."""
        return await self.inner.sessions_ended(since)

    async def beat(self, worker: Worker, *, forget_before: datetime) -> None:
        """See :meth:`Store.beat`."""
        await self.inner.beat(worker, forget_before=forget_before)

    async def workers(self, seen_since: datetime) -> list[Worker]:
        """See :meth:`Store.workers`."""
        return await self.inner.workers(seen_since)

    async def forget_worker(self, worker_id: str) -> None:
        """See :meth:`Store.forget_worker`."""
        await self.inner.forget_worker(worker_id)

    async def add_api_key(self, key: ApiKey) -> None:
        """See :meth:`Store.add_api_key`."""
        await self.inner.add_api_key(key)

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        """See :meth:`Store.get_api_key`."""
        return await self.inner.get_api_key(key_id)

    async def list_api_keys(self) -> list[ApiKey]:
        """See :meth:`Store.list_api_keys`."""
        return await self.inner.list_api_keys()

    async def revoke_api_key(self, key_id: str, at: datetime) -> bool:
        """See :meth:`Store.revoke_api_key`."""
        return await self.inner.revoke_api_key(key_id, at)

    async def search_messages(
        self, search: TextSearch, *, limit: int, offset: int = 0
    ) -> list[Message]:
        """See :meth:`Store.search_messages`."""
        return await self.inner.search_messages(search, limit=limit, offset=offset)

    async def add_blind_terms(self, entries: Sequence[BlindTerms]) -> None:
        """See :meth:`Store.add_blind_terms`."""
        await self.inner.add_blind_terms(entries)

    async def drop_blind_terms(self, keep_version: int) -> int:
        """See :meth:`Store.drop_blind_terms`."""
        return await self.inner.drop_blind_terms(keep_version)
