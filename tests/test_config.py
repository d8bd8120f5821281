"""The settings schema (pipeline/model/config.py): strict types, unknown keys, every error at its line."""
from __future__ import annotations

import datetime as dt
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from test_sources import BOOK_TOML, GOOD, write_book

from pipeline.model import config
from pipeline.model.config import AudioSettings, FrontMatter, PodcastSettings, ProofSettings, toml_key_lines
from pipeline.model.problems import InputError
from pipeline.model.sources import load_book

FULL_TOML = BOOK_TOML + """\
category = "Society & Culture"
type = "serial"
explicit = false
locked = true
retired_guids = []

[audio]
loudness = -16.0
true_peak = -1.0
silence_pad = 0.5
sample_rate = 44100
mono_bitrate = 96
stereo_bitrate = 128
epub_bitrate = 0
cut_retakes = false

[proof]
strict = false
"""


def found(book: str = FULL_TOML, parts: dict[str, str] | None = None, *, root: Path) -> list[str]:
    """Every problem as 'CODE file:line message' (file name only)."""
    texts = write_book(root, book=book, parts=parts)
    with pytest.raises(InputError) as e:
        load_book(texts)
    return [f"{p.code} {Path(p.file).name}:{p.line} {p.message}" for p in e.value.problems]


def line_of(text: str, start: str) -> int:
    [n] = [i for i, ln in enumerate(text.splitlines(), 1) if ln.startswith(start)]
    return n


def edit(old: str, new: str, book: str = FULL_TOML) -> str:
    assert book.count(old) == 1, old
    return book.replace(old, new)


# ---------------------------------------------------------------------------- the two holes


def test_explicit_no_is_an_error_not_true(tmp_path: Path) -> None:
    book = edit("explicit = false", 'explicit = "no"')
    assert found(book, root=tmp_path) == [
        f"E-BOOK-004 book.toml:{line_of(book, 'explicit')} field 'podcast.explicit' must be true or false, got 'no'"]


def test_retired_guids_string_is_an_error_not_characters(tmp_path: Path) -> None:
    book = edit("retired_guids = []", 'retired_guids = "abc"')
    assert found(book, root=tmp_path) == [
        f"E-BOOK-004 book.toml:{line_of(book, 'retired_guids')} field 'podcast.retired_guids' must be a list, "
        "such as [\"a\", \"b\"], got 'abc'"]
    book = edit("retired_guids = []", 'retired_guids = ["urn:one", 2]')
    assert found(book, root=tmp_path / "b") == [
        f"E-BOOK-004 book.toml:{line_of(book, 'retired_guids')} field 'podcast.retired_guids' item 2 must be text, got 2"]
    book = edit("retired_guids = []", 'retired_guids = ["urn:one", "urn:two"]')
    assert load_book(write_book(tmp_path / "c", book=book)).podcast.retired_guids == ("urn:one", "urn:two")


# ---------------------------------------------------------------------------- every field is strict


def _base(annotation: object) -> object:
    """The type under Annotated[...] and `X | None`."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if type(None) in typing.get_args(annotation) and len(args) == 1:
        return _base(args[0])
    return annotation


# values a lax parser would coerce into each type, written as TOML
COERCIBLE = {
    bool: ['"no"', '"true"', "1", "0"],
    int: ['"96"', "96.0", "true"],
    float: ['"-16"', "true"],
    str: ["1", "true", "2024-03-01"],
    dt.date: ['"2024-03-01"', "2024-03-01T00:00:00"],
    dt.datetime: ['"2024-03-01T00:00:00Z"', "2024-03-01"],
}


def _coercible(annotation: object) -> list[str]:
    base = _base(annotation)
    if typing.get_origin(base) is tuple:
        return ['"abc"', "1"]
    if typing.get_origin(base) is typing.Literal:
        return ['"Serial"', "1"]
    assert base in COERCIBLE, f"no wrong values listed for {base}: add them to COERCIBLE"
    return COERCIBLE[base]  # type: ignore[index]


TABLE_FIELDS = [(table, name, value)
                for table, cls in (("podcast", PodcastSettings), ("audio", AudioSettings), ("proof", ProofSettings))
                for name, annotation in config._fields(cls).items()
                for value in _coercible(annotation)]


@pytest.mark.parametrize("table, name, value", TABLE_FIELDS, ids=[f"{t}.{n}={v}" for t, n, v in TABLE_FIELDS])
def test_every_table_field_rejects_a_coercible_value(tmp_path: Path, table: str, name: str, value: str) -> None:
    book = FULL_TOML.split(f"[{table}]\n")
    body = [ln for ln in book[1].split("\n") if not ln.startswith(f"{name} =")]
    text = f"{book[0]}[{table}]\n{name} = {value}\n" + "\n".join(body)
    line = line_of(text, f"{name} = {value}")
    assert [p.split(" ", 2)[:2] for p in found(text, root=tmp_path)] == [["E-BOOK-004", f"book.toml:{line}"]]


TOP_FIELDS = [(name, value) for name, annotation in config._fields(config.BookToml).items()
              if name not in ("podcast", "audio", "proof") for value in _coercible(annotation)]


@pytest.mark.parametrize("name, value", TOP_FIELDS, ids=[f"{n}={v}" for n, v in TOP_FIELDS])
def test_every_book_field_rejects_a_coercible_value(tmp_path: Path, name: str, value: str) -> None:
    lines = [ln for ln in FULL_TOML.split("\n") if not ln.startswith(f"{name} =")]
    text = f"{name} = {value}\n" + "\n".join(lines)
    assert [p.split(" ", 2)[:2] for p in found(text, root=tmp_path)] == [["E-BOOK-004", "book.toml:1"]]


FM_CODES = {"id": "E-ID-001", "recording": "E-ID-002"}
FM_FIELDS = [(name, value) for name, annotation in config._fields(FrontMatter).items()
             for value in _coercible(annotation)]


@pytest.mark.parametrize("name, value", FM_FIELDS, ids=[f"{n}={v}" for n, v in FM_FIELDS])
def test_every_front_matter_field_rejects_a_coercible_value(tmp_path: Path, name: str, value: str) -> None:
    head, body = GOOD.split("---\n", 2)[1:]
    lines = [ln for ln in head.splitlines() if not ln.startswith(f"{name}:")]
    yaml_value = {'"no"': "'no'", '"true"': "'true'", '"96"': "'1'", "96.0": "1.0", '"-16"': "'-16'",
                  '"2024-03-01"': "'2024-03-02'", "2024-03-01T00:00:00": "2024-03-02T00:00:00",
                  '"abc"': "abc", '"Serial"': "Serial"}.get(value, value)
    part = "---\n" + "\n".join(lines) + f"\n{name}: {yaml_value}\n---\n" + body
    line = len(lines) + 2
    codes = [p.split(" ", 2)[:2] for p in found(FULL_TOML, {"01-alpha.md": part}, root=tmp_path)]
    assert codes == [[FM_CODES.get(name, "E-FM-004"), f"01-alpha.md:{line}"]]


def test_right_types_are_read_and_normalised(tmp_path: Path) -> None:
    book = edit("loudness = -16.0", "loudness = -18")                       # a whole number is a number
    book = edit('base_url = "https://example.org/"', 'base_url = "https://example.org/pod"', book)
    book = edit("published = 2024-03-01\n", "published = 2024-03-01\nmodified = 2024-03-11T09:00:00\n", book)
    b = load_book(write_book(tmp_path, book=book))
    assert b.audio.loudness == -18.0 and isinstance(b.audio.loudness, float)
    assert b.podcast.base_url == "https://example.org/pod/"
    assert b.modified == dt.datetime(2024, 3, 11, 9, tzinfo=dt.UTC)  # a local time is UTC
    assert b.identifier == "urn:isbn:" and b.authors == ("A. Writer",)
    assert b.audio == AudioSettings(-18.0) and b.proof == ProofSettings(strict=False)


# ---------------------------------------------------------------------------- missing, unknown, tables


def test_missing_fields_and_tables(tmp_path: Path) -> None:
    book = edit('owner = "Owner"\n', "")
    assert found(book, root=tmp_path) == [
        f"E-BOOK-003 book.toml:{line_of(book, '[podcast]')} missing required field 'podcast.owner'"]
    book = FULL_TOML.split("[podcast]")[0] + "[audio]" + FULL_TOML.split("[audio]")[1]
    assert found(book.replace('narrator = "A Narrator"\n', ""), root=tmp_path / "b") == [
        "E-BOOK-003 book.toml:0 missing required field 'narrator'",
        "E-BOOK-003 book.toml:0 missing required table [podcast]"]


def test_unknown_keys_are_errors_with_a_hint(tmp_path: Path) -> None:
    book = edit("explicit = false", "explict = false")
    book = edit("cut_retakes = false", "cut_retake = false", book)
    book = edit("[proof]", "[proofs]", book)
    book = "colour = \"red\"\n" + book
    assert found(book, root=tmp_path) == [
        "E-BOOK-006 book.toml:1 unknown field 'colour' (expected one of id, title, subtitle, authors, publisher, "
        "language, isbn, identifier, published, modified, description, rights, narrator, cover, podcast, audio, proof)",
        f"E-BOOK-006 book.toml:{line_of(book, 'explict')} unknown field 'podcast.explict' (did you mean 'explicit'?)",
        f"E-BOOK-006 book.toml:{line_of(book, 'cut_retake')} unknown field 'audio.cut_retake' "
        "(did you mean 'cut_retakes'?)",
        f"E-BOOK-006 book.toml:{line_of(book, '[proofs]')} unknown field 'proofs' (did you mean 'proof'?)"]


def test_a_table_that_is_not_a_table(tmp_path: Path) -> None:
    book = ('podcast = 3\naudio = "loud"\n' + FULL_TOML.split("[audio]")[0].replace("[podcast]", "[pod]")
            + "[proof]" + FULL_TOML.split("[proof]")[1])
    assert found(book, root=tmp_path) == [
        "E-BOOK-004 book.toml:1 field 'podcast' must be a table, got 3",
        "E-BOOK-004 book.toml:2 field 'audio' must be a table, got 'loud'",
        f"E-BOOK-006 book.toml:{line_of(book, '[pod]')} unknown field 'pod' (did you mean 'podcast'?)"]


# ---------------------------------------------------------------------------- lines


def test_every_error_at_once_each_at_its_line(tmp_path: Path) -> None:
    book = "\n".join([
        'id = "Test Book"',                              # 1
        'title = "  "',                                  # 2
        'authors = []',                                  # 3
        'publisher = "Test Press"',                      # 4
        'language = "en-GB"',                            # 5
        'published = 2024-03-01',                        # 6
        'description = """Contains',                     # 7
        'type = "not a key: inside a string"',           # 8
        'id = 3"""',                                     # 9
        'narrator = "A Narrator"',                       # 10
        'cover = "cover.png"',                           # 11
        '',                                              # 12
        '[podcast]',                                     # 13
        'base_url = "ftp://example.org/"',               # 14
        'owner = "Owner"',                               # 15
        'email = "owner@example.org"',                   # 16
        'type = "daily"',                                # 17
        '',                                              # 18
        '[audio]',                                       # 19
        'loudness = -3.0',                               # 20
        'epub_bitrate = 16',                             # 21
        'sample_rate = 0',                               # 22
    ]) + "\n"
    assert found(book, root=tmp_path) == [
        "E-BOOK-004 book.toml:1 field 'id' must match ^[a-z0-9-]+$, got 'Test Book'",
        "E-BOOK-004 book.toml:2 field 'title' must not be empty",
        "E-BOOK-004 book.toml:3 field 'authors' must list at least one name",
        "E-BOOK-004 book.toml:11 field 'cover' must name a file beside book.toml: cover file not found: cover.png",
        "E-BOOK-004 book.toml:14 field 'podcast.base_url' must be an http(s) URL, got 'ftp://example.org/'",
        "E-BOOK-004 book.toml:17 field 'podcast.type' must be 'serial' or 'episodic', got 'daily'",
        "E-BOOK-004 book.toml:20 field 'audio.loudness' must be in -40..-5 LUFS, got -3.0",
        "E-BOOK-004 book.toml:21 field 'audio.epub_bitrate' must be 0 (the podcast MP3) or 32..320 kbps, got 16",
        "E-BOOK-004 book.toml:22 field 'audio.sample_rate' must be a whole number ≥ 1, got 0",
    ]


def test_toml_key_lines() -> None:
    text = "\n".join([
        "# a comment",                                   # 1
        'a = 1',                                         # 2
        'text = """',                                    # 3
        'b = 2',                                         # 4  (inside the string)
        '"""',                                           # 5
        "lit = '''one''' # closed on its line",          # 6
        'x.y = 1',                                       # 7
        '"quoted key" = 1',                              # 8
        'inline = { c = 1, d = 2 }',                     # 9
        '[table]',                                       # 10
        '  a = 3',                                       # 11
        '[ "odd table" . sub ]',                         # 12
        'k = [',                                         # 13
        '  [1, 2]',                                      # 14  (an array, not a header)
        ']',                                             # 15
        '[[arr]]',                                       # 16
        'e = 1',                                         # 17
    ])
    assert toml_key_lines(text) == {
        ("a",): 2, ("text",): 3, ("lit",): 6, ("x", "y"): 7, ("quoted key",): 8, ("inline",): 9,
        ("table",): 10, ("table", "a"): 11, ("odd table", "sub"): 12, ("odd table", "sub", "k"): 13,
        ("arr",): 16, ("arr", "e"): 17}


def test_front_matter_errors_at_their_lines(tmp_path: Path) -> None:
    part = "\n".join([
        "---",                                           # 1
        "id: alpha",                                     # 2
        "title: 12",                                     # 3
        "subtitle:",                                     # 4
        "order: 2",                                      # 5
        "published: 2024-03-02T10:00:00",                # 6
        "print_page: 0",                                 # 7
        "narrated: 'no'",                                # 8
        "narator: true",                                 # 9
        "recording: ../x.mp3",                           # 10
        "---",
        "",
        "Text.",
    ]) + "\n"
    assert found(parts={"01-alpha.md": part}, root=tmp_path) == [
        "E-FM-004 01-alpha.md:3 field 'title' must be text, got 12",
        "E-FM-004 01-alpha.md:4 field 'subtitle' must be text (it is empty)",
        "E-FM-004 01-alpha.md:5 field 'order' is 2 but the file name starts with 01",
        "E-FM-004 01-alpha.md:6 field 'published' must be a date (YYYY-MM-DD), got 2024-03-02T10:00:00",
        "E-FM-004 01-alpha.md:7 field 'print_page' must be a page number ≥ 1, got 0",
        "E-FM-004 01-alpha.md:8 field 'narrated' must be true or false, got 'no'",
        "E-FM-005 01-alpha.md:9 unknown front matter field 'narator' (did you mean 'narrated'?)",
        "E-ID-002 01-alpha.md:10 field 'recording' must be a plain file name inside recordings/",
    ]
    part = "---\n1: one\nid: 7\ntitle: Alpha\norder: 1\n---\n\nText.\n"
    assert found(parts={"01-alpha.md": part}, root=tmp_path / "b") == [
        "E-FM-003 01-alpha.md:1 front matter is missing required field 'published'",
        "E-FM-005 01-alpha.md:2 unknown front matter field '1' "
        "(expected one of id, title, order, published, subtitle, print_page, recording, narrated)",
        "E-ID-001 01-alpha.md:3 field 'id' must be text matching ^[a-z0-9-]+$, got 7",
    ]


def test_cli_prints_coded_lines_without_traceback(tmp_path: Path) -> None:
    texts = write_book(tmp_path, book=edit("explicit = false", 'explicit = "no"').replace("[proof]", "[prof]"))
    r = subprocess.run([sys.executable, "-m", "pipeline", "check-sources", str(texts)],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.splitlines() == [
        f"error: E-BOOK-004 texts/book.toml:{line_of(FULL_TOML, 'explicit')} field 'podcast.explicit' must be "
        "true or false, got 'no'",
        f"error: E-BOOK-006 texts/book.toml:{line_of(FULL_TOML, '[proof]')} unknown field 'prof' "
        "(did you mean 'proof'?)"]
