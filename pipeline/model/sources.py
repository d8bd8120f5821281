"""texts/ -> the source model: Book, Part, Section, Block, Sentence.

Readers build the model; writers only read it. Every problem in the input is collected and reported
as one line with a stable code and ``file:line`` (see ``docs/architecture.md``), never a traceback.

Ids are stable: a part's id comes from its front matter; sections (``ID-cNN``) and sentences
(``ID-sNNNN``) are numbered within their part, so editing one part never changes another's ids.
Every spoken element is a Sentence (the title, the subtitle, headings, sentences of paragraphs,
quotes and list items), so a sentence id is the unit of the timeline.
"""
from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

from pipeline.model.config import (
    ID_RE,
    AudioSettings,
    BookToml,
    PodcastSettings,
    ProofSettings,
    read_book_toml,
    read_front_matter,
    yaml_key_lines,
)
from pipeline.model.problems import InputError, Problem, display_path
from pipeline.model.sentences import split_sentences
from pipeline.system.fsutil import link_problem

__all__ = ["ID_RE", "AudioSettings", "Block", "Book", "Part", "PodcastSettings", "ProofSettings", "Section",
           "Sentence", "load_book", "load_part"]

PART_FILE_RE = re.compile(r"^(\d{2})-(.+)\.md$")
# matched in any case (beta.WAV); from a video container (.mp4 .mov .mkv .webm) the master takes the audio
AUDIO_EXTENSIONS = frozenset(
    ".wav .wave .flac .mp3 .ogg .oga .opus .m4a .m4b .aac .mp4 .m4v .mov .mkv .webm .mka .aif .aiff .aifc .wma"
    .split()
)
LABELS_SUFFIX = ".labels.txt"


# ---------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Sentence:
    id: str
    text: str                                   # plain text, as spoken and as shown
    line: int                                   # source line (1-based) where it starts
    strong: tuple[tuple[int, int], ...] = ()    # character ranges to emphasise (by weight)


@dataclass(frozen=True)
class Block:
    kind: str                                   # paragraph | quote | list | subheading
    line: int
    items: tuple[tuple[Sentence, ...], ...]     # one item, or one per list item
    ordered: bool = False

    @property
    def sentences(self) -> tuple[Sentence, ...]:
        return tuple(s for item in self.items for s in item)


@dataclass(frozen=True)
class Section:
    id: str                                     # ID-cNN
    title: str
    line: int
    heading: Sentence                           # for the first section: the part's title
    blocks: tuple[Block, ...]
    is_reflection: bool = False                 # the "Questions for reflection" section

    def sentences(self, include_heading: bool = True) -> Iterator[Sentence]:
        if include_heading:
            yield self.heading
        for b in self.blocks:
            yield from b.sentences


@dataclass(frozen=True)
class Part:
    id: str
    title: str
    subtitle: str
    order: int
    published: dt.date
    source: Path
    sections: tuple[Section, ...]
    subtitle_sentence: Sentence | None = None
    print_page: int | None = None
    narrated: bool = True
    recording: Path | None = None

    def sentences(self) -> list[Sentence]:
        """Every spoken element in reading order: title, subtitle, then each section."""
        out: list[Sentence] = []
        for i, sec in enumerate(self.sections):
            out.append(sec.heading)
            if i == 0 and self.subtitle_sentence is not None:
                out.append(self.subtitle_sentence)
            out.extend(sec.sentences(include_heading=False))
        return out

    @property
    def labels(self) -> Path | None:
        """An Audacity label file beside the recording that fixes alignment boundaries."""
        if self.recording is None:
            return None
        p = self.recording.with_name(self.id + LABELS_SUFFIX)
        return p if p.exists() else None


@dataclass(frozen=True)
class Book:
    id: str
    title: str
    subtitle: str
    authors: tuple[str, ...]
    publisher: str
    language: str
    identifier: str
    isbn: str
    published: dt.date
    modified: dt.datetime
    description: str
    rights: str
    narrator: str
    cover: Path | None
    podcast: PodcastSettings
    audio: AudioSettings
    root: Path
    parts: tuple[Part, ...]
    proof: ProofSettings = field(default_factory=ProofSettings)

    def part(self, part_id: str) -> Part:
        for p in self.parts:
            if p.id == part_id:
                return p
        raise KeyError(part_id)

    @property
    def narrated_parts(self) -> tuple[Part, ...]:
        return tuple(p for p in self.parts if p.narrated)


# ---------------------------------------------------------------------------- loading


def load_book(texts: Path, recordings: Path | None = None) -> Book:
    """Parse and validate ``texts/`` (and match ``recordings/``); raise InputError with every problem."""
    texts = Path(texts)
    problems: list[Problem] = []
    meta = _load_book_toml(texts / "book.toml", problems)
    part_files = []
    if not texts.is_dir():
        raise InputError(Problem(display_path(texts), 0, "E-BOOK-001", "texts folder not found"))
    for f in sorted(texts.iterdir()):
        if f.suffix != ".md" or f.name.startswith(".") or not f.exists():   # (a dangling link: E-REC-005)
            continue
        if f.name.lower() == "readme.md":
            continue
        part_files.append(f)
    if not part_files:
        problems.append(Problem(display_path(texts), 0, "E-TEXT-004", "no part files (NN-ID.md) found"))

    _check_links(texts, problems)
    if recordings is not None:
        _check_links(recordings, problems)
    recs = _recordings(recordings, problems) if recordings is not None else {}
    parts: list[Part] = []
    for f in part_files:
        part = _load_part(f, recs, problems, check_recordings=recordings is not None)
        if part is not None:
            parts.append(part)

    _check_unique(parts, problems)
    if recordings is not None:
        ids = {p.id for p in parts}
        for rid, files in sorted(recs.items()):
            if rid not in ids and not any(p.source.name.endswith(f"-{rid}.md") for p in parts):
                for rf in files:
                    problems.append(Problem(display_path(rf), 0, "E-REC-002",
                                            f"recording has no part with id '{rid}' in {display_path(texts)}"))
    if problems or meta is None:
        raise InputError(sorted(set(problems), key=_problem_key))
    parts.sort(key=lambda p: (p.order, p.id))
    return _book(meta, texts, tuple(parts))


def load_part(path: Path) -> Part:
    """Parse and validate one part file on its own (no book.toml or recordings needed)."""
    problems: list[Problem] = []
    part = _load_part(Path(path), {}, problems, check_recordings=False)
    if problems or part is None:
        raise InputError(sorted(set(problems), key=_problem_key))
    return part


def _problem_key(p: Problem) -> tuple[str, int, str, str]:
    return (p.file, p.line, p.code, p.message)


def _check_unique(parts: list[Part], problems: list[Problem]) -> None:
    seen_id: dict[str, Part] = {}
    seen_order: dict[int, Part] = {}
    for p in sorted(parts, key=lambda p: p.source.name):
        if p.id in seen_id:
            problems.append(Problem(display_path(p.source), 2, "E-ID-003",
                                    f"duplicate id '{p.id}' (also in {display_path(seen_id[p.id].source)})"))
        seen_id.setdefault(p.id, p)
        if p.order in seen_order:
            problems.append(Problem(display_path(p.source), 2, "E-FM-006",
                                    f"duplicate order {p.order} (also in {display_path(seen_order[p.order].source)})"))
        seen_order.setdefault(p.order, p)


def _check_links(folder: Path, problems: list[Problem]) -> None:
    """A symbolic link in ``folder`` is followed when its target is a file inside the project (the folder
    that holds ``folder``); one that points outside it (E-REC-004) or to nothing (E-REC-005) is an error."""
    if not folder.is_dir():
        return
    project = Path(os.path.abspath(folder)).parent
    for f in sorted(folder.iterdir()):
        if not f.name.startswith(".") and (found := link_problem(f, project)) is not None:
            problems.append(Problem(display_path(f), 0, *found))


def _recordings(folder: Path, problems: list[Problem]) -> dict[str, list[Path]]:
    recs: dict[str, list[Path]] = {}
    if not folder.is_dir():
        return recs
    for f in sorted(folder.iterdir()):
        if f.name.endswith(LABELS_SUFFIX) or f.name.startswith("."):
            continue
        if f.suffix.lower() in AUDIO_EXTENSIONS:
            recs.setdefault(f.stem, []).append(f)
    for rid, files in recs.items():
        if len(files) > 1:
            for f in files[1:]:
                problems.append(Problem(display_path(f), 0, "E-REC-003",
                                        f"more than one recording for '{rid}' (also {files[0].name})"))
    return recs


# ---------------------------------------------------------------------------- book.toml


def _load_book_toml(path: Path, problems: list[Problem]) -> BookToml | None:
    """book.toml read and validated by its schema (pipeline.model.config.BookToml)."""
    shown = display_path(path)
    if not path.exists():
        problems.append(Problem(shown, 0, "E-BOOK-001", "book.toml not found"))
        return None
    raw = _read_text(path, problems)
    if raw is None:
        return None
    toml, found = read_book_toml(raw, shown, path.parent)
    problems.extend(found)
    return toml


def _book(t: BookToml, root: Path, parts: tuple[Part, ...]) -> Book:
    published = t.published
    return Book(
        id=t.id, title=t.title, subtitle=t.subtitle, authors=t.authors, publisher=t.publisher,
        language=t.language, identifier=t.identifier or f"urn:isbn:{t.isbn}", isbn=t.isbn,
        published=published,
        modified=t.modified or dt.datetime(published.year, published.month, published.day, tzinfo=dt.UTC),
        description=t.description, rights=t.rights, narrator=t.narrator,
        cover=(root / t.cover).resolve() if t.cover is not None else None,
        podcast=t.podcast, audio=t.audio, root=root, parts=parts, proof=t.proof,
    )


def _read_text(path: Path, problems: list[Problem]) -> str | None:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        problems.append(Problem(display_path(path), line, "E-TEXT-001",
                                f"invalid UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start})"))
        return None


# ---------------------------------------------------------------------------- parts


def _load_part(path: Path, recs: dict[str, list[Path]], problems: list[Problem],
               check_recordings: bool) -> Part | None:
    shown = display_path(path)
    m = PART_FILE_RE.match(path.name)
    if not m:
        problems.append(Problem(shown, 0, "E-TEXT-007", "part file name must be NN-ID.md (two digits, a dash, the id)"))
    text = _read_text(path, problems)
    if text is None:
        return None
    found = _split_front_matter(text, shown, problems)
    if found is None:
        return None
    block, body_start = found
    fm, fm_problems = read_front_matter(block, shown, first_line=2, file_id=m.group(2) if m else None,
                                        file_order=int(m.group(1)) if m else None)
    problems.extend(fm_problems)
    if fm is None or not m:
        if any(p.code == "E-FM-002" for p in fm_problems):
            return None                                    # not YAML, or not a mapping: nothing more to say
        # still parse the body to report its problems too
        _parse_body(text, body_start, fm.id if fm else "x", shown, problems)
        return None

    title, subtitle = fm.title.strip(), fm.subtitle.strip()
    sections, subtitle_sentence = _parse_body(text, body_start, fm.id, shown, problems,
                                              title=title, subtitle=subtitle)
    recording = None
    if check_recordings and fm.narrated:
        name = fm.recording
        found_recs = [f for f in recs.get(Path(name).stem if name else fm.id, []) if not name or f.name == name]
        if found_recs:
            recording = found_recs[0]
        else:
            want = f"recordings/{name}" if name else f"recordings/{fm.id}.<mp3|ogg|opus|m4a|wav|flac>"
            line = yaml_key_lines(block, 2).get(("recording",), 1)
            problems.append(Problem(shown, line, "E-REC-001", f"narrated part has no recording (expected {want})"))
    return Part(
        id=fm.id, title=title, subtitle=subtitle, order=fm.order, published=fm.published,
        source=path, sections=sections, subtitle_sentence=subtitle_sentence, print_page=fm.print_page,
        narrated=fm.narrated, recording=recording,
    )


def _split_front_matter(text: str, shown: str, problems: list[Problem]) -> tuple[str, int] | None:
    """The front matter's YAML (from line 2) and the 0-based line where the body starts."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        problems.append(Problem(shown, 1, "E-FM-001", "missing front matter (the file must start with a '---' line)"))
        return None
    for end in range(1, len(lines)):
        if lines[end].strip() in ("---", "..."):
            return "\n".join(lines[1:end]), end + 1
    problems.append(Problem(shown, 1, "E-FM-001", "front matter is not closed by a '---' line"))
    return None


_MD = MarkdownIt("commonmark")
_REFLECTION_RE = re.compile(r"^questions for reflection$", re.I)


@dataclass
class _SectionBuilder:
    title: str
    line: int
    heading: Sentence
    blocks: list[Block] = field(default_factory=list)


@dataclass
class _ListBuilder:
    line: int
    ordered: bool
    items: list[list[Sentence]] = field(default_factory=list)


def _parse_body(text: str, body_start: int, part_id: str, shown: str, problems: list[Problem],
                title: str = "", subtitle: str = "") -> tuple[tuple[Section, ...], Sentence | None]:
    lines = text.split("\n")
    body = "\n".join(lines[body_start:])
    offset = body_start  # tokens' map lines are 0-based within body
    tokens = _MD.parse(body)
    counter = _Counter(part_id)

    first = _SectionBuilder(title=title, line=1, heading=counter.sentence(title, 1))
    subtitle_sentence = counter.sentence(subtitle, 1) if subtitle else None
    builders = [first]
    prev_level = 2
    i = 0
    list_stack: list[_ListBuilder] = []
    quote_depth = 0
    while i < len(tokens):
        t = tokens[i]
        line = (t.map[0] + 1 + offset) if t.map else 0
        if t.type == "heading_open":
            level = int(t.tag[1])
            inline = tokens[i + 1]
            htext, strong = _inline_text(inline, shown, line, problems)
            if level == 1:
                problems.append(Problem(shown, line, "E-TEXT-003",
                                        "'#' heading in a part: the title belongs in the front matter; use '##' for sections"))
                level = 2
            if level > prev_level + 1:
                problems.append(Problem(shown, line, "E-TEXT-002", f"heading level skips from {prev_level} to {level}"))
            if not htext.strip():
                problems.append(Problem(shown, line, "E-TEXT-006", "empty heading"))
            if level == 2:
                if builders[-1] is not first or first.blocks:
                    _check_section_not_empty(builders[-1], shown, problems, first)
                builders.append(_SectionBuilder(title=htext, line=line, heading=counter.sentence(htext, line)))
            else:
                builders[-1].blocks.append(Block("subheading", line, ((counter.sentence(htext, line, strong),),)))
            prev_level = level
            i += 3
            continue
        if t.type == "paragraph_open":
            inline = tokens[i + 1]
            ptext, strong = _inline_text(inline, shown, line, problems)
            sents = counter.split(ptext, strong, line)
            if list_stack:
                list_stack[-1].items[-1].extend(sents)
            elif sents:
                builders[-1].blocks.append(Block("quote" if quote_depth else "paragraph", line, (tuple(sents),)))
            i += 3
            continue
        if t.type == "blockquote_open":
            quote_depth += 1
        elif t.type == "blockquote_close":
            quote_depth -= 1
        elif t.type in ("bullet_list_open", "ordered_list_open"):
            if list_stack:
                problems.append(Problem(shown, line, "E-TEXT-005", "nested lists are not supported"))
            list_stack.append(_ListBuilder(line=line, ordered=t.type == "ordered_list_open"))
        elif t.type == "list_item_open":
            list_stack[-1].items.append([])
        elif t.type in ("bullet_list_close", "ordered_list_close"):
            lst = list_stack.pop()
            items = tuple(tuple(it) for it in lst.items if it)
            if items and not list_stack:
                builders[-1].blocks.append(Block("list", lst.line, items, ordered=lst.ordered))
        elif t.type in ("fence", "code_block"):
            problems.append(Problem(shown, line, "E-TEXT-005", "code blocks are not supported in a part"))
        elif t.type == "html_block":
            problems.append(Problem(shown, line, "E-TEXT-005", "raw HTML is not allowed (write plain Markdown)"))
        elif t.type == "hr":
            problems.append(Problem(shown, line, "E-TEXT-005", "horizontal rules are not supported; use a '##' section"))
        i += 1

    if len(builders) > 1:
        _check_section_not_empty(builders[-1], shown, problems, first)
    if not any(b.blocks for b in builders):
        problems.append(Problem(shown, offset + 1, "E-TEXT-004", "part has no text"))

    sections = []
    for n, b in enumerate(builders, 1):
        sections.append(Section(
            id=f"{part_id}-c{n:02d}", title=b.title, line=b.line, heading=b.heading, blocks=tuple(b.blocks),
            is_reflection=bool(_REFLECTION_RE.match(b.title.strip())),
        ))
    return tuple(sections), subtitle_sentence


def _check_section_not_empty(b: _SectionBuilder, shown: str, problems: list[Problem], first: _SectionBuilder) -> None:
    if b is not first and not b.blocks:
        problems.append(Problem(shown, b.line, "E-TEXT-006", f"section '{b.title}' has no text"))


class _Counter:
    def __init__(self, part_id: str):
        self.part_id = part_id
        self.n = 0

    def sentence(self, text: str, line: int, strong: tuple[tuple[int, int], ...] = ()) -> Sentence:
        self.n += 1
        return Sentence(id=f"{self.part_id}-s{self.n:04d}", text=text, line=line, strong=strong)

    def split(self, text: str, strong: tuple[tuple[int, int], ...], line: int) -> list[Sentence]:
        out = []
        # count newlines to give each sentence its own source line
        for start, end in split_sentences(text):
            sub = tuple((max(a, start) - start, min(b, end) - start) for a, b in strong if a < end and b > start)
            ln = line + text.count("\n", 0, start)
            out.append(self.sentence(text[start:end].replace("\n", " "), ln, sub))
        return out


def _inline_text(inline: Token, shown: str, line: int, problems: list[Problem]) -> tuple[str, tuple[tuple[int, int], ...]]:
    """Plain text of an inline token (newlines kept for line numbers) and its emphasised ranges."""
    buf: list[str] = []
    strong: list[tuple[int, int]] = []
    open_at: list[int] = []
    pos = 0
    for c in inline.children or []:
        if c.type == "text" or c.type == "code_inline":
            buf.append(c.content)
            pos += len(c.content)
        elif c.type == "softbreak" or c.type == "hardbreak":
            buf.append("\n")
            pos += 1
        elif c.type in ("strong_open", "em_open"):
            open_at.append(pos)
        elif c.type in ("strong_close", "em_close"):
            if open_at:
                a = open_at.pop()
                if pos > a:
                    strong.append((a, pos))
        elif c.type == "link_open":
            problems.append(Problem(shown, line, "E-TEXT-005", "links are not supported in a part (write the text only)"))
        elif c.type == "image":
            problems.append(Problem(shown, line, "E-TEXT-005", "images are not supported in a part"))
        elif c.type == "html_inline":
            problems.append(Problem(shown, line, "E-TEXT-005", f"raw HTML {c.content!r} is not allowed"))
    text = "".join(buf)
    return text, _merge(strong)


def _merge(ranges: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    out: list[list[int]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return tuple((a, b) for a, b in out)
