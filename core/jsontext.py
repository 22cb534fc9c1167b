"""The one JSON text format of stored values: compact, sorted keys, non-ASCII kept."""

from __future__ import annotations

import json
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
