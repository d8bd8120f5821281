"""The schema of the settings: ``texts/book.toml`` and each part's YAML front matter (pydantic v2).

Declared here once, read everywhere: the book's table, the ``[podcast]``, ``[audio]`` and ``[proof]``
tables (the settings dataclasses the stages use) and the front matter of ``texts/NN-ID.md``.

Every field is strict: a value of the wrong type is an error, never coerced (``explicit = "no"`` is not
true, ``retired_guids = "abc"`` is not three GUIDs, ``sample_rate = 44100.0`` is not a whole number).
An unknown key is an error too, with the nearest known name as a hint. The strict field types are
``StrictStr``, ``StrictInt``, ``StrictFloat``, ``StrictBool`` and the strict dates below; a settings table
is a plain frozen dataclass, so the model's users construct and read it as before.

Errors come back as :class:`Problem` lines, all of them at once, each at ``file:line`` of the key that
holds the bad value: TOML and YAML parsers give values without positions, so :func:`toml_key_lines` and
:func:`yaml_key_lines` find each key's line in the source text, and :func:`problems_of` maps pydantic's
error locations (``("podcast", "explicit")``) to those lines and to readable messages with the codes in
``README.md``: E-BOOK-003 missing, E-BOOK-004 invalid, E-BOOK-006 unknown (book.toml); E-FM-003,
E-FM-004, E-FM-005 and the id codes E-ID-001, E-ID-002, E-ID-004 (front matter).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_type_hints

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Strict,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    with_config,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from pipeline.model.problems import Problem

ID_RE = re.compile(r"^[a-z0-9-]+$")
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
HTTP_URL_RE = re.compile(r"^https?://[^\s/]+(/\S*)?$")

KeyPath = tuple[str, ...]


# ---------------------------------------------------------------------------- readable checks


def _invalid(message: str) -> PydanticCustomError:
    """A failed check on a field; reported as ``field 'NAME' <message>``."""
    return PydanticCustomError("invalid", message)


def _coded(code: str, message: str) -> PydanticCustomError:
    """A failed check with a code of its own (E-ID-...); ``message`` is the whole line's text."""
    return PydanticCustomError(code, message)


def _non_empty(value: str) -> str:
    if not value.strip():
        raise _invalid("must not be empty")
    return value


def _list_as_tuple(value: object) -> object:
    """TOML and YAML give arrays as lists; anything else goes on to fail the strict tuple check."""
    return tuple(value) if isinstance(value, list) else value


def _at_least_one(value: tuple[str, ...]) -> tuple[str, ...]:
    if not value:
        raise _invalid("must list at least one name")
    return value


def _within(lo: float, hi: float, unit: str) -> AfterValidator:
    def check(value: float) -> float:
        if not lo <= value <= hi:
            raise _invalid(f"must be in {lo:g}..{hi:g} {unit}, got {value!r}")
        return value
    return AfterValidator(check)


def _at_least(lo: int | float, what: str) -> AfterValidator:
    def check(value: float) -> float:
        if value < lo:
            raise _invalid(f"must be {what}, got {value!r}")
        return value
    return AfterValidator(check)


def _epub_bitrate(value: int) -> int:
    if value and not 32 <= value <= 320:
        raise _invalid(f"must be 0 (the podcast MP3) or 32..320 kbps, got {value!r}")
    return value


def _book_id(value: str) -> str:
    if not ID_RE.match(value):
        raise _invalid(f"must match {ID_RE.pattern}, got {value!r}")
    return value


def _language(value: str) -> str:
    if not LANGUAGE_RE.match(value):
        raise _invalid(f"must be a BCP 47 tag such as en-GB, got {value!r}")
    return value


def _http_url(value: str) -> str:
    if not HTTP_URL_RE.match(value):
        raise _invalid(f"must be an http(s) URL, got {value!r}")
    return value.rstrip("/") + "/"


def _utc_if_naive(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _cover_exists(value: str, info: ValidationInfo) -> str:
    root = (info.context or {}).get("root")
    if root is not None and not (Path(root) / value).is_file():
        raise _invalid(f"must name a file beside book.toml: cover file not found: {value}")
    return value


def _escapes(value: str) -> bool:
    return "/" in value or "\\" in value or ".." in value or value.startswith(".")


def _part_id(value: object, info: ValidationInfo) -> str:
    if not isinstance(value, str) or not value:
        raise _coded("E-ID-001", f"field 'id' must be text matching {ID_RE.pattern}, got {value!r}")
    if _escapes(value):
        raise _coded("E-ID-002", f"id {value!r} could escape its folder")
    if not ID_RE.match(value):
        raise _coded("E-ID-001", f"id {value!r} must match {ID_RE.pattern}")
    file_id = (info.context or {}).get("file_id")
    if file_id is not None and file_id != value:
        raise _coded("E-ID-004", f"id '{value}' does not match the file name (expected NN-{value}.md)")
    return value


def _order_matches_file(value: int, info: ValidationInfo) -> int:
    file_order = (info.context or {}).get("file_order")
    if file_order is not None and file_order != value:
        raise _invalid(f"is {value} but the file name starts with {file_order:02d}")
    return value


def _recording_name(value: object) -> str:
    if not isinstance(value, str) or "/" in value or "\\" in value or value.startswith("."):
        raise _coded("E-ID-002", "field 'recording' must be a plain file name inside recordings/")
    return value


# ---------------------------------------------------------------------------- strict field types

Text = StrictStr
NonEmptyText = Annotated[StrictStr, AfterValidator(_non_empty)]
Date = Annotated[dt.date, Strict()]                 # a TOML/YAML date; a date-time is not a date
DateTime = Annotated[dt.datetime, Strict(), AfterValidator(_utc_if_naive)]
Texts = Annotated[tuple[StrictStr, ...], Strict(), BeforeValidator(_list_as_tuple)]
Names = Annotated[tuple[NonEmptyText, ...], Strict(), BeforeValidator(_list_as_tuple), AfterValidator(_at_least_one)]
Positive = Annotated[StrictInt, _at_least(1, "a whole number ≥ 1")]


# ---------------------------------------------------------------------------- book.toml tables
# Plain frozen dataclasses (the model's users construct them positionally and by keyword); pydantic
# validates them with the annotated strict types when book.toml is read, and rejects unknown keys.


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True)
class PodcastSettings:
    base_url: Annotated[StrictStr, AfterValidator(_http_url)]     # kept with one trailing slash
    owner: NonEmptyText
    email: NonEmptyText
    category: Text = "Society & Culture"
    subcategory: Text = ""
    type: Literal["serial", "episodic"] = "serial"
    explicit: StrictBool = False
    locked: StrictBool = True
    retired_guids: Texts = ()


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True)
class AudioSettings:
    loudness: Annotated[StrictFloat, _within(-40, -5, "LUFS")] = -16.0   # integrated (dual mono for mono files)
    true_peak: Annotated[StrictFloat, _within(-9, 0, "dBTP")] = -1.0     # ceiling on the delivered MP3
    silence_pad: Annotated[StrictFloat, _at_least(0, "0 or more seconds")] = 0.5   # kept at head and tail
    sample_rate: Positive = 44100
    mono_bitrate: Positive = 96      # kbps, podcast MP3
    stereo_bitrate: Positive = 128
    epub_bitrate: Annotated[StrictInt, AfterValidator(_epub_bitrate)] = 0   # 0: the EPUB carries the podcast MP3
    cut_retakes: StrictBool = False  # remove the narrator's false starts (retakes) from the delivered audio


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True)
class ProofSettings:
    strict: StrictBool = False       # an unaccepted deviation from the text fails the release (else a warning)


class BookToml(BaseModel):
    """``texts/book.toml``. Validate with ``context={"root": texts_folder}`` to check that the cover exists."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[StrictStr, AfterValidator(_book_id)]
    title: NonEmptyText
    subtitle: Text = ""
    authors: Names
    publisher: NonEmptyText
    language: Annotated[StrictStr, AfterValidator(_language)]
    isbn: Text = ""
    identifier: Text = ""            # default: urn:isbn:ISBN
    published: Date
    modified: DateTime | None = None  # default: midnight UTC on the published date
    description: NonEmptyText
    rights: Text = ""
    narrator: NonEmptyText
    cover: Annotated[StrictStr, AfterValidator(_cover_exists)] | None = None   # relative to texts/
    podcast: PodcastSettings
    audio: AudioSettings = AudioSettings()
    proof: ProofSettings = ProofSettings()


class FrontMatter(BaseModel):
    """A part's front matter. Validate with ``context={"file_id": ..., "file_order": ...}`` (from the file
    name ``NN-ID.md``) to check that ``id`` and ``order`` agree with it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # id and recording do their own type test, so that a wrong type gets their E-ID code, not E-FM-004
    id: Annotated[str, BeforeValidator(_part_id)]
    title: NonEmptyText
    order: Annotated[StrictInt, _at_least(0, "a whole number ≥ 0"), AfterValidator(_order_matches_file)]
    published: Date
    subtitle: Text = ""
    print_page: Annotated[StrictInt, _at_least(1, "a page number ≥ 1")] | None = None
    recording: Annotated[str, BeforeValidator(_recording_name)] | None = None
    narrated: StrictBool = True


# ---------------------------------------------------------------------------- errors -> coded lines


@dataclass(frozen=True)
class Codes:
    missing: str
    invalid: str
    unknown: str
    missing_line: int                # where a missing top-level field is reported (0: the file)
    where: str                       # "" or "front matter " in messages


BOOK_CODES = Codes("E-BOOK-003", "E-BOOK-004", "E-BOOK-006", 0, "")
FRONT_MATTER_CODES = Codes("E-FM-003", "E-FM-004", "E-FM-005", 1, "front matter ")

# pydantic's error types -> what a non-programmer reads after "field 'NAME'"
_MESSAGES = {
    "string_type": "must be text",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "date_type": "must be a date (YYYY-MM-DD)",
    "datetime_type": "must be a date-time (YYYY-MM-DDTHH:MM:SSZ)",
    "tuple_type": "must be a list, such as [\"a\", \"b\"]",
    "list_type": "must be a list, such as [\"a\", \"b\"]",
    "dataclass_type": "must be a table",
    "model_type": "must be a table",
    "dict_type": "must be a table",
}
_MISSING = {"missing", "missing_argument", "missing_keyword_only_argument"}
_UNKNOWN = {"extra_forbidden", "unexpected_keyword_argument"}


def problems_of(error: ValidationError, schema: type, file: str, lines: Mapping[KeyPath, int],
                codes: Codes) -> list[Problem]:
    """Every error in ``error`` as one coded Problem at the line of its key (or of the nearest enclosing key)."""
    return [_problem(e, schema, file, lines, codes) for e in error.errors(include_url=False)]


def _problem(e: ErrorDetails, schema: type, file: str, lines: Mapping[KeyPath, int], codes: Codes) -> Problem:
    loc = e["loc"]
    path = tuple(str(k) for k in loc if isinstance(k, str))
    name = ".".join(path)
    kind = e["type"]
    if kind in _MISSING:
        parent = path[:-1]
        line = _line(lines, parent) if parent else codes.missing_line
        what = f"table [{name}]" if _is_table(_field_type(schema, path)) else f"field '{name}'"
        message = f"{codes.where}is missing required {what}" if codes.where else f"missing required {what}"
        return Problem(file, line, codes.missing, message)
    line = _line(lines, path) or codes.missing_line
    if kind in _UNKNOWN:
        known = list(_fields(_field_type(schema, path[:-1])))
        close = difflib.get_close_matches(path[-1], known, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else f"expected one of {', '.join(known)}"
        return Problem(file, line, codes.unknown, f"unknown {codes.where}field '{name}' ({hint})")
    if kind.startswith("E-"):
        return Problem(file, line, kind, e["msg"])
    if kind == "invalid":
        text = e["msg"]
    elif kind == "literal_error":
        text = f"must be {e.get('ctx', {}).get('expected', '?')}, got {e['input']!r}"
    elif kind in _MESSAGES:
        text = _MESSAGES[kind] + _got(e["input"])
    else:
        text = e["msg"]              # not expected from these schemas; pydantic's own words
    index = [k for k in loc if isinstance(k, int)]
    item = f" item {index[-1] + 1}" if index else ""
    return Problem(file, line, codes.invalid, f"field '{name}'{item} {text}")


def _got(value: object) -> str:
    if value is None:
        return " (it is empty)"
    if isinstance(value, dt.date):
        return f", got {value.isoformat()}"
    if isinstance(value, (str, int, float)):
        return f", got {value!r}"
    return f", got a {'table' if isinstance(value, dict) else 'list' if isinstance(value, list) else 'value'}"


def _line(lines: Mapping[KeyPath, int], path: KeyPath) -> int:
    """The line of ``path``'s key, or of the nearest enclosing key that has one (0 when none)."""
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return 0


def _fields(cls: object) -> dict[str, Any]:
    """A table's field names and their types (BaseModel or dataclass)."""
    if isinstance(cls, type) and issubclass(cls, BaseModel):
        return {n: f.annotation for n, f in cls.model_fields.items()}
    if isinstance(cls, type) and dataclasses.is_dataclass(cls):
        hints = get_type_hints(cls)
        return {f.name: hints[f.name] for f in dataclasses.fields(cls)}
    return {}


def _field_type(schema: object, path: Sequence[str]) -> object:
    cls = schema
    for key in path:
        cls = _fields(cls).get(key)
    return cls


def _is_table(cls: object) -> bool:
    return bool(_fields(cls))


# ---------------------------------------------------------------------------- key lines


_KEY_PART = r"(?:[A-Za-z0-9_-]+|\"[^\"\n]*\"|'[^'\n]*')"
_DOTTED = rf"{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*"
_TOML_TABLE = re.compile(rf"^\s*\[\[?\s*({_DOTTED})\s*\]\]?\s*(?:#.*)?$")
_TOML_KEY = re.compile(rf"^\s*({_DOTTED})\s*=(.*)$")


def _toml_key_path(dotted: str) -> KeyPath:
    return tuple(p.strip().strip("\"'") for p in re.findall(_KEY_PART, dotted))


def toml_key_lines(text: str) -> dict[KeyPath, int]:
    """The 1-based line of every table header and key in a TOML document, by key path (first occurrence).

    Lines inside multi-line strings are skipped; keys inside an inline table are not listed (an error
    there is reported at the inline table's own key)."""
    out: dict[KeyPath, int] = {}
    table: KeyPath = ()
    in_string: str | None = None
    for n, line in enumerate(text.splitlines(), 1):
        if in_string is not None:
            if line.count(in_string) % 2 == 1:
                in_string = None
            continue
        m = _TOML_TABLE.match(line)
        if m:
            table = _toml_key_path(m.group(1))
            out.setdefault(table, n)
            continue
        m = _TOML_KEY.match(line)
        if not m:
            continue
        out.setdefault(table + _toml_key_path(m.group(1)), n)
        value = m.group(2)
        for quote in ('"""', "'''"):
            if value.count(quote) % 2 == 1:
                in_string = quote
                break
    return out


def yaml_key_lines(text: str, first_line: int = 1) -> dict[KeyPath, int]:
    """The line of every key in a YAML mapping (nested mappings too), ``first_line`` being the text's first."""
    out: dict[KeyPath, int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return out

    def walk(node: yaml.Node, prefix: KeyPath) -> None:
        if not isinstance(node, yaml.MappingNode):
            return
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                path = prefix + (str(key.value),)
                out.setdefault(path, key.start_mark.line + first_line)
                walk(value, path)

    if root is not None:
        walk(root, ())
    return out


# ---------------------------------------------------------------------------- the two readers


def read_book_toml(text: str, file: str, root: Path | None) -> tuple[BookToml | None, list[Problem]]:
    """Parse and validate book.toml's text; ``root`` (the texts folder) is where ``cover`` must exist."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"line (\d+)", str(e))
        return None, [Problem(file, int(m.group(1)) if m else 0, "E-BOOK-002", f"invalid TOML: {e}")]
    try:
        return BookToml.model_validate(data, context={"root": root}), []
    except ValidationError as e:
        return None, problems_of(e, BookToml, file, toml_key_lines(text), BOOK_CODES)


def read_front_matter(block: str, file: str, first_line: int, file_id: str | None = None,
                      file_order: int | None = None) -> tuple[FrontMatter | None, list[Problem]]:
    """Parse and validate a part's front matter (the YAML between the ``---`` lines; ``first_line`` is the
    file line of its first line). ``file_id`` and ``file_order`` come from the file name when it is NN-ID.md."""
    try:
        data = yaml.safe_load(block) if block.strip() else {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + first_line if mark is not None else first_line
        msg = getattr(e, "problem", None) or str(e).splitlines()[0]
        return None, [Problem(file, line, "E-FM-002", f"front matter is not valid YAML: {msg}")]
    if not isinstance(data, dict):
        return None, [Problem(file, first_line, "E-FM-002", "front matter must be a mapping of field: value")]
    lines = yaml_key_lines(block, first_line)
    odd = [k for k in data if not isinstance(k, str)]
    problems = [Problem(file, lines.get((str(k),), first_line), FRONT_MATTER_CODES.unknown,
                        f"unknown front matter field '{k}' (expected one of {', '.join(FrontMatter.model_fields)})")
                for k in odd]
    data = {k: v for k, v in data.items() if isinstance(k, str)}
    try:
        fm = FrontMatter.model_validate(data, context={"file_id": file_id, "file_order": file_order})
    except ValidationError as e:
        return None, problems + problems_of(e, FrontMatter, file, lines, FRONT_MATTER_CODES)
    return (None, problems) if problems else (fm, [])
