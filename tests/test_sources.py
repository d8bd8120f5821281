"""The source model: parsing, stable ids, sentence splitting and validation of broken inputs."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.model.problems import InputError
from pipeline.model.sentences import split_sentences
from pipeline.model.sources import load_book

ROOT = Path(__file__).resolve().parents[1]

BOOK_TOML = """\
id = "test-book"
title = "Test Book"
authors = ["A. Writer"]
publisher = "Test Press"
language = "en-GB"
published = 2024-03-01
description = "A test."
narrator = "A Narrator"

[podcast]
base_url = "https://example.org/"
owner = "Owner"
email = "owner@example.org"
"""

PART = """\
---
id: {id}
title: {title}
subtitle: A subtitle
order: {order}
published: 2024-03-02
---

Opening paragraph. It has two sentences.

## First section

Dr. Smith met J. R. Jones at 3.5 p.m. on p. 14, e.g. in the hall. Reoffending fell to 8%. The average is 49%.

> A pull quote with **bold words** in it.

- One item?
- Two items!

## Questions for reflection

### Digging deeper

- What stands out?
"""


def write_book(root: Path, parts: dict[str, str] | None = None, book: str = BOOK_TOML,
               recordings: list[str] | None = None) -> Path:
    texts = root / "texts"
    texts.mkdir(parents=True, exist_ok=True)
    (texts / "book.toml").write_text(book, encoding="utf-8")
    if parts is None:
        parts = {"01-alpha.md": PART.format(id="alpha", title="Alpha", order=1),
                 "02-beta.md": PART.format(id="beta", title="Beta", order=2)}
    for name, text in parts.items():
        (texts / name).write_text(text, encoding="utf-8") if isinstance(text, str) else (texts / name).write_bytes(text)
    if recordings is not None:
        rec = root / "recordings"
        rec.mkdir(exist_ok=True)
        for name in recordings:
            (rec / name).write_bytes(b"\0")
    return texts


def problems_of(texts: Path, recordings: Path | None = None) -> list[str]:
    with pytest.raises(InputError) as e:
        load_book(texts, recordings)
    return [f"{p.code} {Path(p.file).name}:{p.line}" for p in e.value.problems]


# ---------------------------------------------------------------------------- sentences


@pytest.mark.parametrize("text, expected", [
    ("Dr. Smith arrived. He sat down.", ["Dr. Smith arrived.", "He sat down."]),
    ("We met e.g. twice. Then stopped.", ["We met e.g. twice.", "Then stopped."]),
    ("See p. 14 for more. Next.", ["See p. 14 for more.", "Next."]),
    ("J. R. R. Tolkien wrote it. Yes.", ["J. R. R. Tolkien wrote it.", "Yes."]),
    ("It fell to 8%. The national figure is 49%.", ["It fell to 8%.", "The national figure is 49%."]),
    ("It cost £1.2m in 2007. Then 3.5 times more.", ["It cost £1.2m in 2007.", "Then 3.5 times more."]),
    ("“Are you sure?” she asked. “Yes.” He left.", ["“Are you sure?” she asked.", "“Yes.”", "He left."]),
    ("She said “it works.” Then she went.", ["She said “it works.”", "Then she went."]),
    ("Why? Because! And so on…", ["Why?", "Because!", "And so on…"]),
    ("Mrs. Bax, i.e. the manager, agreed. St. Mary’s too.", ["Mrs. Bax, i.e. the manager, agreed.", "St. Mary’s too."]),
    ("Tea, cake, etc. Then home.", ["Tea, cake, etc.", "Then home."]),
    ("A sentence without a full stop", ["A sentence without a full stop"]),
])
def test_sentence_splitting(text: str, expected: list[str]) -> None:
    assert [text[a:b] for a, b in split_sentences(text)] == expected


# ---------------------------------------------------------------------------- the model


def test_model_ids_and_structure(tmp_path: Path) -> None:
    book = load_book(write_book(tmp_path))
    assert [p.id for p in book.parts] == ["alpha", "beta"]
    alpha = book.parts[0]
    assert [s.id for s in alpha.sections] == ["alpha-c01", "alpha-c02", "alpha-c03"]
    assert [s.title for s in alpha.sections] == ["Alpha", "First section", "Questions for reflection"]
    assert alpha.sections[2].is_reflection and not alpha.sections[1].is_reflection
    texts = [s.text for s in alpha.sentences()]
    assert texts[:4] == ["Alpha", "A subtitle", "Opening paragraph.", "It has two sentences."]
    assert "Dr. Smith met J. R. Jones at 3.5 p.m. on p. 14, e.g. in the hall." in texts
    assert "Reoffending fell to 8%." in texts
    ids = [s.id for s in alpha.sentences()]
    assert ids == [f"alpha-s{n:04d}" for n in range(1, len(ids) + 1)]
    kinds = [b.kind for b in alpha.sections[1].blocks]
    assert kinds == ["paragraph", "quote", "list"]
    quote = alpha.sections[1].blocks[1].sentences[0]
    a, b = quote.strong[0]
    assert quote.text[a:b] == "bold words"
    assert alpha.sections[2].blocks[0].kind == "subheading"


def test_ids_stable_when_another_part_changes(tmp_path: Path) -> None:
    before = load_book(write_book(tmp_path / "a"))
    edited = PART.format(id="alpha", title="Alpha", order=1).replace(
        "Opening paragraph.", "A new first sentence. Opening paragraph.")
    after = load_book(write_book(tmp_path / "b", parts={
        "01-alpha.md": edited, "02-beta.md": PART.format(id="beta", title="Beta", order=2)}))
    assert [(s.id, s.text) for s in before.part("beta").sentences()] == \
           [(s.id, s.text) for s in after.part("beta").sentences()]
    assert [s.id for s in before.part("alpha").sections] == [s.id for s in after.part("alpha").sections]


def test_our_texts_are_valid() -> None:
    book = load_book(ROOT / "texts", ROOT / "recordings" if any((ROOT / "recordings").glob("*.*")) else None)
    ids = [p.id for p in book.parts]
    assert ids[0] == "introduction" and ids[-1] == "summary"
    assert len(ids) == 11
    for part in book.parts:
        if part.id not in ("introduction", "summary"):
            assert part.sections[-1].is_reflection, part.id
            subs = [b.sentences[0].text for b in part.sections[-1].blocks if b.kind == "subheading"]
            assert subs == ["Digging deeper", "Applying the learning"], part.id
    switchback = " ".join(s.text for s in book.part("switchback").sentences())
    assert "8%" in switchback and "49%" in switchback


# ---------------------------------------------------------------------------- broken inputs

GOOD = PART.format(id="alpha", title="Alpha", order=1)


def _swap(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new, 1)


BROKEN_PARTS = [
    # (name, file content, expected problem "CODE file:line")
    ("no front matter", "Just text.\n", "E-FM-001 01-alpha.md:1"),
    ("unclosed front matter", "---\nid: alpha\n\nText.\n", "E-FM-001 01-alpha.md:1"),
    ("invalid yaml", _swap("subtitle: A subtitle", "subtitle: [unclosed"), "E-FM-002 01-alpha.md:5"),
    ("missing title", _swap("title: Alpha\n", ""), "E-FM-003 01-alpha.md:1"),
    ("order not a number", _swap("order: 1", "order: first"), "E-FM-004 01-alpha.md:5"),
    ("bad date", _swap("published: 2024-03-02", "published: March 2nd"), "E-FM-004 01-alpha.md:6"),
    ("unknown field", _swap("order: 1\n", "order: 1\nnarator: Bob\n"), "E-FM-005 01-alpha.md:6"),
    ("bad id", _swap("id: alpha", "id: Alpha_One"), "E-ID-001 01-alpha.md:2"),
    ("id escapes folder", _swap("id: alpha", "id: ../alpha"), "E-ID-002 01-alpha.md:2"),
    ("id does not match file", _swap("id: alpha", "id: gamma"), "E-ID-004 01-alpha.md:2"),
    ("heading skips", _swap("### Digging deeper", "#### Digging deeper"), "E-TEXT-002 01-alpha.md:22"),
    ("h1 in part", _swap("## First section", "# First section"), "E-TEXT-003 01-alpha.md:11"),
    ("empty section", _swap("## Questions for reflection", "## Empty\n\n## Questions for reflection"),
     "E-TEXT-006 01-alpha.md:20"),
    ("raw html", _swap("Opening paragraph.", "Opening <b>paragraph</b>."), "E-TEXT-005 01-alpha.md:9"),
    ("link", _swap("Opening paragraph.", "Opening [paragraph](#)."), "E-TEXT-005 01-alpha.md:9"),
    ("empty part", "---\nid: alpha\ntitle: Alpha\norder: 1\npublished: 2024-03-02\n---\n\n", "E-TEXT-004 01-alpha.md:7"),
    ("invalid utf-8", GOOD.encode("utf-8").replace(b"Opening", b"Op\xe9ning"), "E-TEXT-001 01-alpha.md:9"),
    ("recording path escapes", _swap("order: 1\n", "order: 1\nrecording: ../../etc/passwd\n"),
     "E-ID-002 01-alpha.md:6"),
]


@pytest.mark.parametrize("name, content, expected", BROKEN_PARTS, ids=[b[0] for b in BROKEN_PARTS])
def test_broken_part(tmp_path: Path, name: str, content: str | bytes, expected: str) -> None:
    texts = write_book(tmp_path, parts={"01-alpha.md": content})
    assert expected in problems_of(texts)


def test_bad_file_name(tmp_path: Path) -> None:
    texts = write_book(tmp_path, parts={"alpha.md": GOOD})
    assert "E-TEXT-007 alpha.md:0" in problems_of(texts)


def test_duplicate_id_and_order(tmp_path: Path) -> None:
    texts = write_book(tmp_path, parts={"01-alpha.md": GOOD, "02-alpha.md": _swap("order: 1", "order: 2")})
    assert "E-ID-003 02-alpha.md:2" in problems_of(texts)
    texts = write_book(tmp_path / "b", parts={"01-alpha.md": GOOD,
                                              "01-beta.md": PART.format(id="beta", title="Beta", order=1)})
    assert "E-FM-006 01-beta.md:2" in problems_of(texts)
    texts = write_book(tmp_path / "c", parts={"02-alpha.md": GOOD})
    assert "E-FM-004 02-alpha.md:5" in problems_of(texts)  # order 1 in a file numbered 02


@pytest.mark.parametrize("book, expected", [
    (BOOK_TOML.replace('title = "Test Book"\n', ""), "E-BOOK-003 book.toml:0"),
    (BOOK_TOML.replace('language = "en-GB"', 'language = "English"'), "E-BOOK-004 book.toml:5"),
    (BOOK_TOML.replace('published = 2024-03-01', 'published = "soon"'), "E-BOOK-004 book.toml:6"),
    (BOOK_TOML.replace('base_url = "https://example.org/"', 'base_url = "example.org"'), "E-BOOK-004 book.toml:11"),
    (BOOK_TOML + "[audio\n", "E-BOOK-002 book.toml:14"),
], ids=["missing title", "bad language", "bad date", "bad base_url", "invalid toml"])
def test_broken_book_toml(tmp_path: Path, book: str, expected: str) -> None:
    assert expected in problems_of(write_book(tmp_path, book=book))


def test_recordings_matched(tmp_path: Path) -> None:
    texts = write_book(tmp_path, recordings=["alpha.mp3", "gamma.ogg", "beta.labels.txt"])
    found = problems_of(texts, tmp_path / "recordings")
    assert "E-REC-001 02-beta.md:1" in found      # beta is narrated but has no recording
    assert "E-REC-002 gamma.ogg:0" in found       # a recording with no part
    texts = write_book(tmp_path / "two", recordings=["alpha.mp3", "alpha.wav", "beta.m4a"])
    assert "E-REC-003 alpha.wav:0" in problems_of(texts, tmp_path / "two" / "recordings")


def test_symbolic_links_followed_inside_the_project_only(tmp_path: Path) -> None:
    """A link inside texts/ or recordings/ is followed when it stays in the project (the folder that holds
    them); one pointing outside it is E-REC-004, naming the link and its target; a dangling one E-REC-005."""
    texts = write_book(tmp_path / "proj", recordings=["beta.m4a"])
    store = tmp_path / "proj" / "incoming"
    store.mkdir()
    (store / "alpha.mp3").write_bytes(b"\0")
    (tmp_path / "proj" / "recordings" / "alpha.mp3").symlink_to(Path("..") / "incoming" / "alpha.mp3")
    book = load_book(texts, tmp_path / "proj" / "recordings")
    assert book.part("alpha").recording.name == "alpha.mp3"
    outside = tmp_path / "downloads"
    outside.mkdir()
    (outside / "01-alpha.md").write_text(PART.format(id="alpha", title="Alpha", order=1), encoding="utf-8")
    (texts / "01-alpha.md").unlink()
    (texts / "01-alpha.md").symlink_to(outside / "01-alpha.md")
    with pytest.raises(InputError) as e:
        load_book(texts, tmp_path / "proj" / "recordings")
    assert [p.code for p in e.value.problems] == ["E-REC-004"]
    assert str(outside / "01-alpha.md") in str(e.value) and "01-alpha.md" in e.value.problems[0].file
    (texts / "01-alpha.md").unlink()
    (texts / "01-alpha.md").symlink_to(store / "gone.md")
    assert "E-REC-005 01-alpha.md:0" in problems_of(texts)


def test_every_problem_collected(tmp_path: Path) -> None:
    texts = write_book(tmp_path, parts={
        "01-alpha.md": _swap("### Digging deeper", "#### Digging deeper"),
        "02-beta.md": "no front matter\n",
    })
    found = problems_of(texts)
    assert "E-TEXT-002 01-alpha.md:22" in found and "E-FM-001 02-beta.md:1" in found


def test_cli_reports_without_traceback(tmp_path: Path) -> None:
    texts = write_book(tmp_path, parts={"01-alpha.md": _swap("id: alpha", "id: ../alpha")})
    r = subprocess.run([sys.executable, "-m", "pipeline", "check-sources", str(texts)],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        "error: E-ID-002 texts/01-alpha.md:2 id '../alpha' could escape its folder"]
    ok = write_book(tmp_path / "ok")
    r = subprocess.run([sys.executable, "-m", "pipeline", "check-sources", str(ok)],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "pipeline", "no-such-stage"], capture_output=True, text=True)
    assert r.returncode == 2


def test_stage_index_names_the_module_of_every_stage() -> None:
    """`python -m pipeline STAGE` imports only STAGE's module, found in cli.STAGE_INDEX; every stage a
    module registers must be in it, under that module."""
    code = ("import json, pipeline.cli as c; c._load_stage_modules(); "
            "print(json.dumps({n: r.__module__ for n, (h, s, r) in c.STAGES.items()}))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    import json

    from pipeline.cli import STAGE_INDEX
    registered = {n: m.removeprefix("pipeline.") for n, m in json.loads(r.stdout).items() if m != "pipeline.cli"}
    assert registered == STAGE_INDEX
    # a stage's own module alone gives it its options; an unknown stage still gets the full list
    r = subprocess.run([sys.executable, "-m", "pipeline", "transcript", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "usage: pipeline transcript" in r.stdout, r.stdout + r.stderr
    r = subprocess.run([sys.executable, "-m", "pipeline", "no-such-stage"], capture_output=True, text=True)
    assert r.returncode != 0 and "align" in r.stderr and "transcript" in r.stderr
