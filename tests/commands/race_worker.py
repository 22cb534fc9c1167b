"""One bot process of the race test: a router on the shared database, fed one conversation.

Run as ``python -m tests.commands.race_worker CONFIG WORKER COUNT NEW_EVERY``: it sends
``COUNT`` messages to the conversation every worker shares, ``/new`` every
``NEW_EVERY`` messages (never, when 0), and prints what it saw as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from bot.config import load_config
from bot.wiring import build_router, opened_manager
from commands.router import GENERIC_ERROR, KEPT_CHANGING
from core.models import Inbound


async def main(config: Path, worker: int, count: int, new_every: int) -> dict[str, object]:
    settings = load_config(config)
    plain: list[str] = []
    generic = kept = commands = 0
    async with opened_manager(settings) as manager:
        router = build_router(manager, settings, plugins={})
        for number in range(count):
            is_command = new_every and number % new_every == new_every - 1
            text = "/new" if is_command else f"worker {worker} message {number}"
            replies = await router.handle(
                Inbound("console", "shared", f"user{worker}", text, display_name="u")
            )
            said = [reply.text for reply in replies]
            generic += said.count(GENERIC_ERROR)
            kept += said.count(KEPT_CHANGING)
            if is_command:
                commands += 1
            elif KEPT_CHANGING not in said:
                plain.append(text)
    return {"plain": plain, "generic": generic, "kept": kept, "commands": commands}


if __name__ == "__main__":
    config, worker, count, new_every = sys.argv[1:5]
    outcome = asyncio.run(main(Path(config), int(worker), int(count), int(new_every)))
    print(json.dumps(outcome))
