r"""Words as search sees them: one normalisation for queries, indexes and snippets.

A word is a run of letters and digits (Unicode ``\w`` without the underscore), case
folded and in NFKC form, so "Straße", "STRASSE" and "strasse" are one word. The same
function splits what is stored (the blind index of :mod:`core.crypto.blind_index`
hashes its output) and what is asked, so the two always agree.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_WORD = re.compile(r"[^\W_]+")
MAX_QUERY_WORDS = 16
"""How many words one search may name; a longer query is refused, not cut."""


def words_of(text: str) -> list[str]:
    """Return the normalised words of ``text``, in order, repeats kept."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def word_spans(text: str) -> list[tuple[int, int, str]]:
    """Return ``(start, end, word)`` for each word of ``text``, positions in ``text``.

    Case folding can change a word's length ("ß" becomes "ss"), so the word is folded
    on its own and the span is the original text's.
    """
    return [
        (m.start(), m.end(), "".join(words_of(m.group())))
        for m in _WORD.finditer(text)
        if words_of(m.group())
    ]


@dataclass(frozen=True, slots=True)
class TextQuery:
    """What a user asked for: phrases (quoted) and single words; all must occur.

    Attributes:
        phrases: each phrase as its normalised words; a single word is a phrase of one.
    """

    phrases: tuple[tuple[str, ...], ...]

    @classmethod
    def parse(cls, text: str) -> TextQuery:
        """Parse ``words and "a phrase"``; an unclosed quote runs to the end.

        Raises:
            ValueError: no word at all, or more than :data:`MAX_QUERY_WORDS`.
        """
        phrases: list[tuple[str, ...]] = []
        for i, part in enumerate(text.split('"')):
            found = words_of(part)
            if i % 2:  # inside quotes
                if found:
                    phrases.append(tuple(found))
            else:
                phrases.extend((word,) for word in found)
        words = sum(len(p) for p in phrases)
        if not words:
            raise ValueError("give at least one word to search for")
        if words > MAX_QUERY_WORDS:
            raise ValueError(f"a search may name at most {MAX_QUERY_WORDS} words, not {words}")
        return cls(tuple(dict.fromkeys(phrases)))

    @classmethod
    def from_args(cls, args: tuple[str, ...] | list[str]) -> TextQuery:
        """Build a query from command arguments: each argument is a phrase of its words.

        ``/history search "blue whale" tea`` gives the arguments ``blue whale`` and
        ``tea``: the phrase and the word.

        Raises:
            ValueError: as :meth:`parse`.
        """
        return cls.parse(" ".join('"' + arg.replace('"', " ") + '"' for arg in args))

    @property
    def words(self) -> tuple[str, ...]:
        """Every distinct word of every phrase, in order."""
        return tuple(dict.fromkeys(w for phrase in self.phrases for w in phrase))

    def matches(self, text: str) -> bool:
        """Tell whether every phrase occurs in ``text`` (as whole, consecutive words)."""
        return all(_find(words_of(text), phrase) >= 0 for phrase in self.phrases)

    def marked(self, text: str, width: int, mark: tuple[str, str] = ("**", "**")) -> str:
        """Return a one-line snippet of ``text`` around the first match, matches marked.

        Args:
            text: the message.
            width: about how many characters of ``text`` to show.
            mark: what goes before and after each matched word.
        """
        spans = word_spans(text)
        hits = self._hit_positions([w for _, _, w in spans])
        if not hits:
            return _flat(text[:width])
        first = spans[min(hits)][0]
        start = max(0, first - width // 3)
        end = min(len(text), start + width)
        pieces, at = [], start
        for index in sorted(hits):
            s, e, _ = spans[index]
            if s < start or e > end:
                continue
            pieces += [text[at:s], mark[0], text[s:e], mark[1]]
            at = e
        pieces.append(text[at:end])
        return ("…" if start else "") + _flat("".join(pieces)) + ("…" if end < len(text) else "")

    def _hit_positions(self, words: list[str]) -> set[int]:
        hits: set[int] = set()
        for phrase in self.phrases:
            n = len(phrase)
            for i in range(len(words) - n + 1):
                if tuple(words[i : i + n]) == phrase:
                    hits.update(range(i, i + n))
        return hits


def _find(words: list[str], phrase: tuple[str, ...]) -> int:
    n = len(phrase)
    for i in range(len(words) - n + 1):
        if tuple(words[i : i + n]) == phrase:
            return i
    return -1


def _flat(text: str) -> str:
    return " ".join(text.split())
