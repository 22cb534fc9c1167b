"""Which :class:`core.tokens.TokenCounter` counts: the estimate, or tiktoken offline.

``[context] tokenizer = "auto"`` (the default) counts with tiktoken where it is
installed, knows the responder's model, and has that model's encoding file on this
machine already, in tiktoken's own cache (``TIKTOKEN_CACHE_DIR``, else
``DATA_GYM_CACHE_DIR``, else ``<tmp>/data-gym-cache``). Nothing is ever downloaded
at run time: the file is looked for, and its SHA-256 checked, before tiktoken is
asked for the encoding, so tiktoken always finds it in its cache. Otherwise the
built-in estimate counts, and the log says why. ``"estimate"`` always uses the
estimate; an encoding's name (``"o200k_base"``) uses that encoding, for a model
tiktoken does not know by name.

To put an encoding in the cache, run on a machine with network access (the image
build, for example)::

    export TIKTOKEN_CACHE_DIR=/var/cache/tiktoken
    python -c "import tiktoken; tiktoken.get_encoding('o200k_base')"

and start the bot with the same ``TIKTOKEN_CACHE_DIR``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.tokens import ESTIMATE, TokenCounter

if TYPE_CHECKING:
    import tiktoken

logger = logging.getLogger(__name__)

AUTO = "auto"
"""Count with the responder model's tiktoken encoding when it is on this machine."""

_BLOBS = "https://openaipublic.blob.core.windows.net/encodings"


@dataclass(frozen=True)
class EncodingFile:
    """Where tiktoken fetches an encoding's file, and the file's SHA-256.

    tiktoken keeps a fetched file in its cache under the SHA-1 of this address.
    """

    url: str
    sha256: str


ENCODING_FILES = {
    "r50k_base": EncodingFile(
        f"{_BLOBS}/r50k_base.tiktoken",
        "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
    ),
    "p50k_base": EncodingFile(
        f"{_BLOBS}/p50k_base.tiktoken",
        "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069",
    ),
    "cl100k_base": EncodingFile(
        f"{_BLOBS}/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "o200k_base": EncodingFile(
        f"{_BLOBS}/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}
"""The encodings counted offline: each is one file, whose hash tiktoken checks too."""

TOKENIZERS = (AUTO, "estimate", *ENCODING_FILES)
"""The values ``[context] tokenizer`` takes."""


@dataclass(frozen=True)
class Choice:
    """The counter chosen, and why (logged at start).

    Attributes:
        counter: what counts.
        reason: why it is this one, in a few words.
    """

    counter: TokenCounter
    reason: str


def choose_counter(tokenizer: str, model: str | None) -> Choice:
    """Return the counter ``[context] tokenizer`` asks for the responder's ``model``.

    Args:
        tokenizer: ``auto``, ``estimate`` or an encoding's name (:data:`TOKENIZERS`).
        model: the responder's model; ``None`` for one without (echo).
    """
    if tokenizer == "estimate":
        return Choice(ESTIMATE, "[context] tokenizer = estimate")
    if tokenizer != AUTO:
        return _offline(tokenizer)
    if model is None:
        return Choice(ESTIMATE, "the responder names no model")
    try:
        import tiktoken
    except ImportError:
        return Choice(ESTIMATE, "tiktoken is not installed")
    try:
        encoding = tiktoken.encoding_name_for_model(model)
    except KeyError:
        return Choice(ESTIMATE, f"tiktoken does not know the model {model!r}")
    return _offline(encoding)


def cache_path(url: str) -> Path | None:
    """Return where tiktoken keeps the file fetched from ``url``; ``None``: no cache."""
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        directory = os.environ["TIKTOKEN_CACHE_DIR"]
    elif "DATA_GYM_CACHE_DIR" in os.environ:
        directory = os.environ["DATA_GYM_CACHE_DIR"]
    else:
        directory = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    if directory == "":
        return None  # caching switched off: tiktoken would fetch every time
    return Path(directory) / hashlib.sha1(url.encode()).hexdigest()  # tiktoken's cache key


def _offline(encoding: str) -> Choice:
    """The counter of ``encoding`` if its file is here and whole; else the estimate."""
    file = ENCODING_FILES.get(encoding)
    if file is None:
        return Choice(ESTIMATE, f"the encoding {encoding} is not one counted offline")
    try:
        import tiktoken
    except ImportError:
        return Choice(ESTIMATE, "tiktoken is not installed")
    path = cache_path(file.url)
    if path is None:
        return Choice(ESTIMATE, "tiktoken's cache is switched off (TIKTOKEN_CACHE_DIR is empty)")
    try:
        data = path.read_bytes()
    except OSError:
        return Choice(ESTIMATE, f"{encoding} is not in tiktoken's cache at {path.parent}")
    if hashlib.sha256(data).hexdigest() != file.sha256:
        # tiktoken would delete it and fetch it again: count with the estimate instead.
        return Choice(ESTIMATE, f"the cached file of {encoding} at {path} is damaged")
    return Choice(_counter(tiktoken.get_encoding(encoding)), f"{encoding} found at {path.parent}")


def _counter(encoding: tiktoken.Encoding) -> TokenCounter:
    # Text is counted as plain text: "<|endoftext|>" in a message is not special.
    def count(text: str) -> int:
        return len(encoding.encode_ordinary(text)) or 1

    return TokenCounter(f"tiktoken {encoding.name}", count)


def counter_for(tokenizer: str, model: str | None) -> TokenCounter:
    """Return the counter for ``[context] tokenizer`` and ``model``, logging the choice."""
    choice = choose_counter(tokenizer, model)
    if choice.counter is ESTIMATE:
        logger.info("tokens: estimated (%s)", choice.reason)
    else:
        logger.info("tokens: counted with %s (%s)", choice.counter.name, choice.reason)
    return choice.counter
