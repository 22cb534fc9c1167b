"""Checkpoint routes: list, save, restore (undoable), branch into a new session, delete."""

from __future__ import annotations

from fastapi import APIRouter, Response

from adapters.http.errors import ERROR_RESPONSES
from adapters.http.models import (
    BranchCheckpoint,
    CheckpointView,
    RestoredCheckpoint,
    SaveCheckpoint,
    SessionDetail,
)
from adapters.http.views import CallerDep, ServicesDep, inbound_in, session_detail

router = APIRouter(prefix="/api/sessions", tags=["checkpoints"], responses=ERROR_RESPONSES)


@router.get("/{session_id}/checkpoints", response_model=list[CheckpointView])
async def list_checkpoints(
    session_id: str, caller: CallerDep, services: ServicesDep
) -> list[CheckpointView]:
    """Return the session's checkpoints, oldest first."""
    session = await services.session_for(caller, session_id)
    return [CheckpointView.of(c) for c in await services.manager.checkpoints.list(session)]


@router.post("/{session_id}/checkpoints", response_model=CheckpointView, status_code=201)
async def save_checkpoint(
    session_id: str, body: SaveCheckpoint, caller: CallerDep, services: ServicesDep
) -> CheckpointView:
    """Save the history as it is now under a name (O(1), whatever its length)."""
    session = await services.session_for(caller, session_id)
    saved = await services.manager.checkpoints.save(
        session, body.name, body.description, by=caller.user_ref
    )
    return CheckpointView.of(saved)


@router.post("/{session_id}/checkpoints/{checkpoint_id}/restore", response_model=RestoredCheckpoint)
async def restore_checkpoint(
    session_id: str, checkpoint_id: str, caller: CallerDep, services: ServicesDep
) -> RestoredCheckpoint:
    """Go back to a checkpoint; the state left is saved first, so this can be undone."""
    session = await services.session_for(caller, session_id)
    restored, _, undo = await services.manager.checkpoints.restore(
        session, checkpoint_id, by=caller.user_ref
    )
    return RestoredCheckpoint(
        session=await session_detail(services, restored), undo_checkpoint=CheckpointView.of(undo)
    )


@router.post(
    "/{session_id}/checkpoints/{checkpoint_id}/branch",
    response_model=SessionDetail,
    status_code=201,
)
async def branch_checkpoint(
    session_id: str,
    checkpoint_id: str,
    body: BranchCheckpoint,
    caller: CallerDep,
    services: ServicesDep,
) -> SessionDetail:
    """Start a new active session whose history begins with the checkpoint's.

    The scope's current session is archived (reason ``branched``).
    """
    session = await services.session_for(caller, session_id)
    branched = await services.manager.checkpoints.branch(
        inbound_in(session), session, checkpoint_id, title=body.title
    )
    return await session_detail(services, branched)


@router.delete(
    "/{session_id}/checkpoints/{checkpoint_id}", status_code=204, response_class=Response
)
async def delete_checkpoint(
    session_id: str, checkpoint_id: str, caller: CallerDep, services: ServicesDep
) -> Response:
    """Delete a checkpoint; the messages stay."""
    session = await services.session_for(caller, session_id)
    await services.manager.checkpoints.delete(session, checkpoint_id)
    return Response(status_code=204)
