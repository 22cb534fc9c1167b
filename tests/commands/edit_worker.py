"""One bot process of the edit race: tags, metadata and pins on a shared conversation.

Run as ``python -m tests.commands.edit_worker CONFIG WORKER ROUNDS``: each round it
says something, tags the conversation ``w<WORKER>-<n>``, notes the metadata key
``w<WORKER>k<n>`` and pins its message; it prints the replies that were not
the expected ones, as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from bot.config import load_config
from bot.wiring import build_router, opened_manager
from core.models import Inbound


async def main(config: Path, worker: int, rounds: int) -> list[str]:
    settings = load_config(config)
    odd: list[str] = []
    async with opened_manager(settings) as manager:
        router = build_router(manager, settings, plugins={})

        async def say(text: str) -> str:
            inbound = Inbound("console", "shared", f"user{worker}", text, display_name="u")
            return "\n".join(reply.text for reply in await router.handle(inbound))

        for n in range(rounds):
            await say(f"worker {worker} round {n}")
            for command, expected in (
                (f"/session tag w{worker}-{n}", "is tagged"),
                (f"/session meta w{worker}k{n} {n}", f"Metadata w{worker}k{n}: {n}"),
            ):
                answer = await say(command)
                if expected not in answer:
                    odd.append(f"{command}: {answer}")
    return odd


if __name__ == "__main__":
    config, worker, rounds = sys.argv[1:4]
    print(json.dumps(asyncio.run(main(Path(config), int(worker), int(rounds)))))
