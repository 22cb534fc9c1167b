"""``sessionbot run`` with ``kind = "openai"`` as a subprocess, against the fake endpoint.

The fake OpenAI-compatible server runs in the test's event loop, so the bot is run
with asyncio's subprocess support: the loop keeps serving while the bot talks to it.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import pytest

from core.crypto.envelope import generate_master_key
from tests.encodings import cache_encoding
from tests.fakes.openai_api import API_KEY, FakeOpenAI

pytestmark = pytest.mark.e2e

MARKER = re.compile(r"^Unknown command /zzend(\d+)\..*$", re.MULTILINE)
FAILED = "The model did not answer. Your message is kept: send /retry to ask again."


class Bot:
    def __init__(
        self, tmp_path: Path, base_url: str, *, model: str = "e2e-model", more: str = ""
    ) -> None:
        self.dir = tmp_path
        self.db = tmp_path / "bot.db"
        self.master_key = generate_master_key()
        self.config = tmp_path / "config.toml"
        self.config.write_text(
            f"""
            [storage]
            url = "sqlite:///{self.db}"

            [encryption]
            enabled = true
            key_env = "E2E_MASTER_KEY"

            [responder]
            kind = "openai"
            base_url = "{base_url}"
            model = "{model}"
            api_key_env = "E2E_OPENAI_KEY"
            system_prompt = "Be brief."
            max_retries = 0
            timeout_seconds = 20

            [adapters.console]
            user = "alice"
            {more}
            """.replace("\n            ", "\n")
        )

    async def run(self, *lines: str) -> tuple[list[str], str]:
        """Run the bot on ``lines``; return the reply block of each line, and stderr."""
        piped = []
        for number, line in enumerate(lines):
            piped += [line, f"/zzend{number}"]
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SESSIONBOT_", "OPENAI_", "TIKTOKEN_", "DATA_GYM_"))
        }
        env["TIKTOKEN_CACHE_DIR"] = str(self.dir / "tiktoken")
        env |= {"E2E_MASTER_KEY": self.master_key, "E2E_OPENAI_KEY": API_KEY}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            "--config",
            str(self.config),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=self.dir,
            env=env,
        )
        async with asyncio.timeout(120):
            out, err = await process.communicate(("\n".join(piped) + "\n").encode())
        stdout, stderr = out.decode(), err.decode()
        assert process.returncode == 0, stderr
        assert "Traceback" not in stderr
        blocks, start = [], 0
        for marker in MARKER.finditer(stdout):
            blocks.append(stdout[start : marker.start()].strip("\n"))
            start = marker.end() + 1
        assert len(blocks) == len(lines), stdout
        return blocks, stderr


async def test_run_answers_with_the_model_remembers_and_survives_a_failure(
    tmp_path: Path,
) -> None:
    async with FakeOpenAI() as api:
        bot = Bot(tmp_path, api.url)
        (hello, second, info), _ = await bot.run("hello", "what did I say?", "/session")
        assert hello == "re: hello"
        assert second == "re: what did I say?"
        assert api.requests[-1]["model"] == "e2e-model"
        assert api.requests[-1]["stream"] is True
        assert api.requests[-1]["messages"] == [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "re: hello"},
            {"role": "user", "content": "what did I say?"},
        ]
        # The fake counts a word a token and four a message: 6 + 5 in the first
        # request, 6 + 5 + 6 + 8 in the second; out 2 and 5.
        assert "Tokens in/out: 36 / 7" in info

        api.refuse_next(500)
        (failed, retried, history), stderr = await bot.run("keep this", "/retry", "/history")
        assert failed == FAILED
        assert retried == "re: keep this"
        assert history.count("keep this") == 2
        assert "HTTP 500" in stderr
        assert API_KEY not in stderr
        assert "keep this" not in stderr
    raw = await asyncio.to_thread(database_bytes, tmp_path)
    assert b"keep this" not in raw
    assert b"what did I say" not in raw


def database_bytes(directory: Path) -> bytes:
    return b"".join(path.read_bytes() for path in directory.glob("bot.db*"))


async def test_run_counts_the_context_with_the_models_cached_tokenizer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_encoding(tmp_path / "tiktoken", monkeypatch)  # as `tiktoken.get_encoding` leaves it
    line = "1 2 3 4 5 6 7 8 9 10"  # 19 tokens by cl100k_base, 5 by the estimate
    async with FakeOpenAI() as api:
        api.usage = False  # nothing to calibrate from: the budget is the counter's alone
        bot = Bot(tmp_path, api.url, model="gpt-4", more="[context]\nmax_tokens = 80\n")
        (*_, last), stderr = await bot.run(*[line] * 4)
    assert last == f"re: {line}"
    assert "tokens: counted with tiktoken cl100k_base" in stderr
    # 80 tokens hold the new message, the last answer (22) and the message before it
    # (19) by the model's count; the estimate would have sent all seven.
    assert [m["content"] for m in api.requests[-1]["messages"]] == [
        "Be brief.",
        line,
        f"re: {line}",
        line,
    ]
