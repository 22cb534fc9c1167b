"""Reading a JSON export back: the whole file checked before anything is written.

Only the JSON format round-trips (markdown and text exports are for people). A file
that is not such an export is refused with one line that says what was expected,
what is wrong and where (``messages[3].created_at``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)

from core.errors import UsageError
from core.models import Role
from core.sessions.tags import MAX_METADATA_KEYS, MAX_TAGS, tag_of
from core.text import clean_json, decode_text

EXPORT_FORMAT = "sessionbot-export"
EXPORT_VERSION = 1

EXPECTED = (
    "An import takes a JSON export, made with /history export json or "
    "sessionbot sessions export ID --format json."
)


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Message(_Part):
    role: Role
    author: StrictStr
    content: StrictStr
    metadata: dict[str, Any] = Field(default_factory=dict)
    tokens_in: StrictInt = Field(default=0, ge=0)
    tokens_out: StrictInt = Field(default=0, ge=0)
    created_at: AwareDatetime


class _Checkpoint(_Part):
    name: StrictStr
    description: StrictStr = ""
    seq: StrictInt = Field(ge=0)
    auto: StrictBool = False
    created_at: AwareDatetime


class _Session(_Part):
    title: StrictStr | None = None
    tags: list[StrictStr] = Field(default_factory=list, max_length=MAX_TAGS)
    metadata: dict[str, Any] = Field(default_factory=dict, max_length=MAX_METADATA_KEYS)
    created_at: AwareDatetime

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        # As /session tag stores them, so /session list tag:<tag> finds imported ones.
        return list(dict.fromkeys(tag_of(tag) for tag in tags))


class _Document(_Part):
    format: Literal["sessionbot-export"]
    version: Literal[1]
    session: _Session
    messages: list[_Message]
    checkpoints: list[_Checkpoint] = Field(default_factory=list)


class ImportedSession:
    """A checked JSON export, ready for :meth:`core.sessions.maintenance.Maintenance.import_export`.

    Attributes:
        title: the session's title.
        tags: its tags.
        metadata: its metadata.
        created_at: when the original session was created.
        messages: ``(role, author, content, metadata, tokens_in, tokens_out, created_at)``.
        checkpoints: ``(name, description, seq, created_at)`` of user checkpoints
            (automatic ones are not carried over).
    """

    def __init__(self, document: _Document) -> None:
        session = document.session
        self.title: str | None = session.title
        self.tags: tuple[str, ...] = tuple(session.tags)
        self.metadata: dict[str, Any] = dict(session.metadata)
        self.created_at: datetime = session.created_at
        self.messages = [
            (m.role, m.author, m.content, dict(m.metadata), m.tokens_in, m.tokens_out, m.created_at)
            for m in document.messages
        ]
        self.checkpoints = [
            (c.name, c.description, c.seq, c.created_at) for c in document.checkpoints if not c.auto
        ]


def parse_export(data: bytes | str) -> ImportedSession:
    """Check a whole JSON export made by :func:`core.sessions.export.export_session`.

    Raises:
        UsageError: the data is not a sessionbot JSON export: one line with what
            was expected, what is wrong and where.
    """
    text = decode_text(data) if isinstance(data, bytes) else data
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"Cannot import: {_not_json(text, error)}. {EXPECTED}") from None
    document = clean_json(raw)
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        why = f'the file is JSON but not a sessionbot export (no "format": "{EXPORT_FORMAT}")'
        raise UsageError(f"Cannot import: {why}. {EXPECTED}")
    if document.get("version") != EXPORT_VERSION:
        raise UsageError(
            f"Cannot import: export version {str(document.get('version'))[:20]!r} is not one "
            f"this sessionbot reads (version {EXPORT_VERSION})."
        )
    try:
        checked = _Document.model_validate(document)
    except ValidationError as error:
        raise UsageError(f"Cannot import: {_first_problem(error)}. {EXPECTED}") from None
    _check_checkpoints(checked)
    return ImportedSession(checked)


def _not_json(text: str, error: json.JSONDecodeError) -> str:
    start = text.lstrip()[:1]
    if start in ("#", "*", "-", ">") or text.lstrip().startswith("Session"):
        return "the file looks like a markdown or text export, which cannot be imported"
    return f"the file is not JSON ({error.msg} at line {error.lineno}, column {error.colno})"


def _first_problem(error: ValidationError) -> str:
    """Say where the first problem is and what it is: ``messages[3].role: …``."""
    problem = error.errors(include_url=False)[0]
    where = ""
    for part in problem["loc"]:
        where += f"[{part}]" if isinstance(part, int) else f".{part}" if where else str(part)
    count = error.error_count()
    more = f" ({count - 1} more problems)" if count > 1 else ""
    return f"{where or 'the file'}: {problem['msg'].rstrip('.')}{more}"


def _check_checkpoints(document: _Document) -> None:
    count = len(document.messages)
    for index, checkpoint in enumerate(document.checkpoints):
        if checkpoint.seq > count:
            raise UsageError(
                f"Cannot import: checkpoints[{index}].seq: {checkpoint.seq} is past the last "
                f"message ({count}). {EXPECTED}"
            )
