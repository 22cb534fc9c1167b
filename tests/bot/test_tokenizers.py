"""``[context] tokenizer``: tiktoken where its encoding is on this machine, never a download."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import tiktoken

from bot.config import load_config
from bot.tokenizers import ENCODING_FILES, cache_path, choose_counter, counter_for
from bot.wiring import build_manager
from core import ConfigError
from core.sessions.context_window import context_history
from core.storage.memory import MemoryStore
from core.tokens import ESTIMATE
from tests.builders import inbound, user_message
from tests.encodings import cache_encoding, proxy_watch


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "tiktoken"
    directory.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(directory))
    return directory


def test_the_watch_sees_a_download_tiktoken_tries(
    empty_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the other tests rely on: were tiktoken asked for a file it has not got,
    # its download would show in the watch.
    with proxy_watch(monkeypatch) as seen, pytest.raises(Exception):  # noqa: B017
        tiktoken.get_encoding("o200k_base")
    assert any("openaipublic.blob.core.windows.net" in line for line in seen)


def test_a_cached_encoding_counts_the_models_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_encoding(tmp_path / "tiktoken", monkeypatch)
    with proxy_watch(monkeypatch) as seen:
        choice = choose_counter("auto", "gpt-4")  # tiktoken maps it to cl100k_base
    assert seen == []
    counter = choice.counter
    assert counter.name == "tiktoken cl100k_base"
    assert counter.count("hello world") == 2
    assert counter.count("1 2 3 4 5 6 7 8 9 10") == 19  # the estimate says 5
    assert counter.count("<|endoftext|>") == 7  # plain text, not the special token
    assert counter.count("") == 1  # every message costs something
    assert counter.count("a\x00b \ud800 \x1b[2J") >= 1  # odd text is counted, not refused


@pytest.mark.parametrize(
    ("tokenizer", "model", "reason"),
    [
        ("estimate", "gpt-4", "tokenizer = estimate"),
        ("auto", None, "names no model"),
        ("auto", "llama3.2", "does not know the model 'llama3.2'"),
        ("auto", "gpt-4", "cl100k_base is not in tiktoken's cache"),
        ("o200k_base", "llama3.2", "o200k_base is not in tiktoken's cache"),
    ],
)
def test_without_the_file_here_the_estimate_counts_and_nothing_is_fetched(
    empty_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    tokenizer: str,
    model: str | None,
    reason: str,
) -> None:
    with proxy_watch(monkeypatch) as seen:
        choice = choose_counter(tokenizer, model)
    assert choice.counter is ESTIMATE
    assert reason in choice.reason
    assert seen == []
    assert list(empty_cache.iterdir()) == []


def test_a_model_tiktoken_does_not_know_can_name_its_encoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_encoding(tmp_path / "tiktoken", monkeypatch)
    assert choose_counter("cl100k_base", "llama3.2").counter.name == "tiktoken cl100k_base"


def test_a_damaged_file_is_left_alone_and_the_estimate_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached = cache_encoding(tmp_path / "tiktoken", monkeypatch)
    cached.write_bytes(cached.read_bytes()[:1000])  # cut short
    with proxy_watch(monkeypatch) as seen:
        choice = choose_counter("auto", "gpt-4")
    assert choice.counter is ESTIMATE and "damaged" in choice.reason
    assert seen == []  # tiktoken would have deleted it and fetched it again
    assert cached.stat().st_size == 1000


def test_an_empty_cache_dir_switches_tiktokens_cache_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    assert cache_path(ENCODING_FILES["cl100k_base"].url) is None
    with proxy_watch(monkeypatch) as seen:
        choice = choose_counter("auto", "gpt-4")
    assert choice.counter is ESTIMATE and "switched off" in choice.reason
    assert seen == []


def test_the_choice_is_logged_once_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cache_encoding(tmp_path / "tiktoken", monkeypatch)
    with caplog.at_level(logging.INFO, logger="bot.tokenizers"):
        counter_for("auto", "gpt-4")
        counter_for("auto", "llama3.2")
    assert caplog.messages == [
        f"tokens: counted with tiktoken cl100k_base (cl100k_base found at {tmp_path / 'tiktoken'})",
        "tokens: estimated (tiktoken does not know the model 'llama3.2')",
    ]


def write_config(tmp_path: Path, context: str) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[responder]
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
model = "gpt-4"

[context]
max_tokens = 40
{context}
"""
    )
    return config


def test_an_unknown_tokenizer_is_one_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(write_config(tmp_path, 'tokenizer = "bpe"'))
    message = str(raised.value)
    assert "context.tokenizer" in message and "auto, estimate" in message
    assert "\n" not in message.strip()


async def test_the_context_window_is_cut_by_the_models_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_encoding(tmp_path / "tiktoken", monkeypatch)
    settings = load_config(write_config(tmp_path, ""))
    manager = build_manager(MemoryStore(), settings)
    assert manager.tokens.name == "tiktoken cl100k_base"
    text = "1 2 3 4 5 6 7 8 9 10"  # 19 tokens; estimated 5
    session = (await manager.resolve(inbound(text))).session
    for _ in range(6):
        session, _ = await manager.history.record(session, user_message(text))
    context = await context_history(manager, session, settings.context.max_tokens)
    # 40 tokens hold two of these messages by the model's count (eight by the estimate).
    assert len(context) == 2 and context.tokens == 38
    assert context.counter is manager.tokens
