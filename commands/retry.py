"""``/retry``: ask the model again for the last message when it did not answer."""

from __future__ import annotations

from commands.context import CommandContext
from commands.registry import Registry
from core.errors import CommandError
from core.models import Reply
from core.sessions.conversation import retry as retry_last

registry = Registry()


@registry.command("retry", usage="/retry")
async def retry(ctx: CommandContext) -> Reply:
    """Ask the model again to answer your last message, when it did not answer it."""
    if ctx.responder is None:
        raise CommandError("Nothing answers messages here, so there is nothing to retry.")
    stored = await ctx.manager.channels.settings(ctx.inbound)
    return await retry_last(
        ctx.manager,
        ctx.responder,
        ctx.session,
        bot_name=ctx.settings.bot_name,
        max_tokens=ctx.settings.context_max_tokens,
        contexts=ctx.contexts,
        strategy=ctx.settings.strategy_for(stored.context_strategy if stored else None),
    )
