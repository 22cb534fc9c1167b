"""The one JSON text format of stored values: compact, sorted keys, non-ASCII kept."""

from __future__ import annotations

import json
import re
from typing import Any


def json_text(value: Any) -> str:
    """``value`` as :class:`JsonText` stores it: compact JSON, sorted keys, non-ASCII kept.

    A mapping of strings to strings (message metadata, sealed or not) is written
    directly: the same text, without building an encoder, which cost three times
    as much on every message stored.
    """
    if type(value) is dict:
        if len(value) == 1:  # the usual case: one platform id, or one sealed value
            [(key, item)] = value.items()
            if type(key) is str and type(item) is str:
                return "{" + _encode_str(key) + ":" + _encode_str(item) + "}"
        elif all(type(k) is str and type(v) is str for k, v in value.items()):
            fields = ",".join(f"{_encode_str(k)}:{_encode_str(value[k])}" for k in sorted(value))
            return "{" + fields + "}"
    return _encode_json(value)


_encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode
_encode_str = json.encoder.encode_basestring  # what the encoder above writes a string as


def parse_json_text(text: str) -> Any:
    """Read back what :func:`json_text` wrote.

    A one-key mapping of plain strings (no escapes: message metadata, sealed or not)
    is taken apart directly, at a quarter of the parser's cost on every message read.
    """
    simple = _ONE_PAIR.fullmatch(text)
    if simple is not None:
        return {simple[1]: simple[2]}
    return json.loads(text)


# A key and a value with nothing to unescape: no quote, backslash or control character.
_ONE_PAIR = re.compile(r'\{"([^"\\\x00-\x1f]*)":"([^"\\\x00-\x1f]*)"\}')
