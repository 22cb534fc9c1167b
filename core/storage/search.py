"""What a full-text or blind-index search asks a :class:`~core.storage.protocols.Store` for."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TextSearch:
    """What :meth:`Store.search_messages` looks for.

    Attributes:
        session_ids: only messages of these sessions (the caller decides which a
            user may see; the store never widens it).
        words: normalised words (:func:`core.words.words_of`) that must all occur.
            A backend's full-text index may find a few messages more (its own
            tokenizer); the caller checks each hit against the text it opened.
        blind_version: when set, ``words`` are blind-index terms
            (:mod:`core.crypto.blind_index`) made under this master key version,
            and only :meth:`Store.add_blind_terms` rows are searched.
    """

    session_ids: tuple[str, ...]
    words: tuple[str, ...]
    blind_version: int | None = None


@dataclass(frozen=True, slots=True)
class BlindTerms:
    """The blind-index terms of one message, under one master key version."""

    session_id: str
    message_id: str
    version: int
    terms: tuple[str, ...]
