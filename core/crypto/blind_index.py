"""The blind index: searchable words of sealed messages, without their text.

Each distinct normalised word of a message (:func:`core.words.words_of`) is stored as
the first :data:`TERM_BYTES` bytes of HMAC-SHA256 under the search key, which is derived
from the master key with its own HKDF label (:attr:`KeyEncryptionKey.search_key`). A
query hashes its words the same way and asks for messages holding every term; the
hits are opened and checked against the query, so a truncated hash that happens to
collide costs a look, never a wrong answer.

What it reveals to someone holding the database without the key: which messages
share a word (equal words give equal terms in the whole database), how many distinct
words each message has, and so how often a term occurs. It does not give the words,
their order or their count in a message. Prefix and substring search cannot work on
it and are not offered.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from core.crypto.envelope import KeyEncryptionKey
from core.models import Message
from core.storage.search import BlindTerms, TextSearch
from core.words import words_of

TERM_BYTES = 12
"""96 bits: collisions among a database's words are improbable, and harmless (above)."""


class BlindIndex:
    """Hashes words under one master key's search key.

    Args:
        kek: the key-encryption key of the master key; its version tags the terms.
    """

    def __init__(self, kek: KeyEncryptionKey) -> None:
        self._key = kek.search_key
        self._kek = kek

    @property
    def version(self) -> int:
        """The master key version the terms are made under (read when used)."""
        return self._kek.version

    def term(self, word: str) -> str:
        """Return the term of one normalised word."""
        return hmac.digest(self._key, word.encode("utf-8"), "sha256")[:TERM_BYTES].hex()

    def terms_of(self, text: str) -> tuple[str, ...]:
        """Return the distinct terms of ``text``, sorted (so not in the words' order)."""
        return tuple(sorted({self.term(word) for word in words_of(text)}))

    def entries(self, messages: Iterable[Message]) -> list[BlindTerms]:
        """Return the index rows of plain (opened) messages."""
        return self.entries_of((m.session_id, m.id, m.content) for m in messages)

    def entries_of(self, texts: Iterable[tuple[str, str, str]]) -> list[BlindTerms]:
        """Return the index rows of ``(session id, message id, plain text)`` triples."""
        return [
            BlindTerms(session_id, message_id, self.version, terms)
            for session_id, message_id, text in texts
            if (terms := self.terms_of(text))
        ]

    def query(self, search: TextSearch) -> TextSearch:
        """Return ``search`` with its words replaced by their terms."""
        return TextSearch(
            session_ids=search.session_ids,
            words=tuple(dict.fromkeys(self.term(w) for w in search.words)),
            blind_version=self.version,
        )
