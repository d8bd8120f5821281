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
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import yaml
from markdown_it import MarkdownIt

from pipeline.model.problems import InputError, Problem, display_path
from pipeline.model.sentences import split_sentences

ID_RE = re.compile(r"^[a-z0-9-]+$")
PART_FILE_RE = re.compile(r"^(\d{2})-(.+)\.md$")
AUDIO_EXTENSIONS = frozenset(
    ".wav .wave .flac .mp3 .ogg .oga .opus .m4a .m4b .aac .mp4 .aif .aiff .wma .webm .mka".split()
)
LABELS_SUFFIX = ".labels.txt"
FRONT_MATTER_FIELDS = {
    "id": True, "title": True, "order": True, "published": True,
    "subtitle": False, "print_page": False, "recording": False, "narrated": False,
}


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
class PodcastSettings:
    base_url: str
    owner: str
    email: str
    category: str = "Society & Culture"
    subcategory: str = ""
    type: str = "serial"
    explicit: bool = False
    locked: bool = True
    retired_guids: tuple[str, ...] = ()


@dataclass(frozen=True)
class AudioSettings:
    loudness: float = -16.0          # LUFS integrated (dual mono for mono files)
    true_peak: float = -1.0          # dBTP ceiling
    silence_pad: float = 0.5         # seconds of silence kept at head and tail
    sample_rate: int = 44100
    mono_bitrate: int = 96           # kbps, podcast MP3
    stereo_bitrate: int = 128
    epub_bitrate: int = 0            # 0: the EPUB carries the podcast MP3; else kbps of a mono MP3 for it
    cut_retakes: bool = False        # remove the narrator's false starts (retakes) from the delivered audio


@dataclass(frozen=True)
class ProofSettings:
    strict: bool = False             # an unaccepted deviation from the text fails the release (else a warning)


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
        if f.suffix != ".md" or f.name.startswith("."):
            continue
        if f.name.lower() == "readme.md":
            continue
        part_files.append(f)
    if not part_files:
        problems.append(Problem(display_path(texts), 0, "E-TEXT-004", "no part files (NN-ID.md) found"))

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
    return Book(parts=tuple(parts), root=texts, **meta)


def load_part(path: Path) -> Part:
    """Parse and validate one part file on its own (no book.toml or recordings needed)."""
    problems: list[Problem] = []
    part = _load_part(Path(path), {}, problems, check_recordings=False)
    if problems or part is None:
        raise InputError(sorted(set(problems), key=_problem_key))
    return part


def _problem_key(p: Problem) -> tuple:
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


def _load_book_toml(path: Path, problems: list[Problem]) -> dict[str, Any] | None:
    shown = display_path(path)
    if not path.exists():
        problems.append(Problem(shown, 0, "E-BOOK-001", "book.toml not found"))
        return None
    raw = _read_text(path, problems)
    if raw is None:
        return None
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"line (\d+)", str(e))
        problems.append(Problem(shown, int(m.group(1)) if m else 0, "E-BOOK-002", f"invalid TOML: {e}"))
        return None
    lines = raw.splitlines()

    def line_of(key: str) -> int:
        for i, ln in enumerate(lines, 1):
            if re.match(rf"\s*{re.escape(key)}\s*=", ln):
                return i
        return 0

    def need(table: dict, key: str, kind: type, where: str = "") -> Any:
        full = f"{where}{key}"
        if key not in table:
            problems.append(Problem(shown, 0, "E-BOOK-003", f"missing required field '{full}'"))
            return kind()
        v = table[key]
        if not isinstance(v, kind) or (isinstance(v, str) and not v.strip()):
            problems.append(Problem(shown, line_of(key), "E-BOOK-004",
                                    f"field '{full}' must be a non-empty {kind.__name__}"))
            return kind()
        return v

    book_id = need(data, "id", str)
    if book_id and not ID_RE.match(book_id):
        problems.append(Problem(shown, line_of("id"), "E-BOOK-004",
                                f"field 'id' must match {ID_RE.pattern}, got {book_id!r}"))
    authors = data.get("authors", [])
    if not isinstance(authors, list) or not authors or not all(isinstance(a, str) for a in authors):
        problems.append(Problem(shown, line_of("authors"), "E-BOOK-004", "field 'authors' must be a list of names"))
        authors = []
    language = need(data, "language", str)
    if language and not re.match(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", language):
        problems.append(Problem(shown, line_of("language"), "E-BOOK-004",
                                f"field 'language' must be a BCP 47 tag such as en-GB, got {language!r}"))
    published = data.get("published")
    if not isinstance(published, dt.date) or isinstance(published, dt.datetime):
        problems.append(Problem(shown, line_of("published"), "E-BOOK-004",
                                "field 'published' must be a date (YYYY-MM-DD)"))
        published = dt.date(1970, 1, 1)
    modified = data.get("modified", None)
    if modified is None:
        modified = dt.datetime(published.year, published.month, published.day, tzinfo=dt.timezone.utc)
    elif isinstance(modified, dt.datetime):
        modified = modified if modified.tzinfo else modified.replace(tzinfo=dt.timezone.utc)
    else:
        problems.append(Problem(shown, line_of("modified"), "E-BOOK-004",
                                "field 'modified' must be a date-time (YYYY-MM-DDTHH:MM:SSZ)"))
        modified = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    cover = data.get("cover")
    cover_path = None
    if cover is not None:
        cover_path = (path.parent / str(cover)).resolve()
        if not cover_path.is_file():
            problems.append(Problem(shown, line_of("cover"), "E-BOOK-004", f"cover file not found: {cover}"))

    pod = data.get("podcast", {})
    if not isinstance(pod, dict):
        problems.append(Problem(shown, line_of("podcast"), "E-BOOK-004", "[podcast] must be a table"))
        pod = {}
    base_url = need(pod, "base_url", str, "podcast.")
    if base_url and not re.match(r"^https?://[^\s/]+(/\S*)?$", base_url):
        problems.append(Problem(shown, line_of("base_url"), "E-BOOK-004",
                                f"field 'podcast.base_url' must be an http(s) URL, got {base_url!r}"))
    podcast = PodcastSettings(
        base_url=base_url.rstrip("/") + "/" if base_url else "",
        owner=need(pod, "owner", str, "podcast."),
        email=need(pod, "email", str, "podcast."),
        category=str(pod.get("category", "Society & Culture")),
        subcategory=str(pod.get("subcategory", "")),
        type=str(pod.get("type", "serial")),
        explicit=bool(pod.get("explicit", False)),
        locked=bool(pod.get("locked", True)),
        retired_guids=tuple(str(g) for g in pod.get("retired_guids", [])),
    )
    if podcast.type not in ("serial", "episodic"):
        problems.append(Problem(shown, line_of("type"), "E-BOOK-004", "field 'podcast.type' must be serial or episodic"))

    aud = data.get("audio", {})
    audio_fields = {}
    defaults = AudioSettings()
    for name in AudioSettings.__dataclass_fields__:
        if name in aud:
            v = aud[name]
            want = type(getattr(defaults, name))
            if want is bool:
                if not isinstance(v, bool):
                    problems.append(Problem(shown, line_of(name), "E-BOOK-004",
                                            f"field 'audio.{name}' must be true or false, got {v!r}"))
                    continue
            elif isinstance(v, bool) or not isinstance(v, (int, float)):
                problems.append(Problem(shown, line_of(name), "E-BOOK-004", f"field 'audio.{name}' must be a number"))
                continue
            audio_fields[name] = want(v)
    audio = AudioSettings(**audio_fields)
    if not -40 <= audio.loudness <= -5:
        problems.append(Problem(shown, line_of("loudness"), "E-BOOK-004", "field 'audio.loudness' must be in -40..-5 LUFS"))
    if audio.epub_bitrate and not 32 <= audio.epub_bitrate <= 320:
        problems.append(Problem(shown, line_of("epub_bitrate"), "E-BOOK-004",
                                "field 'audio.epub_bitrate' must be 0 (the podcast MP3) or 32..320 kbps"))
    if not -9 <= audio.true_peak <= 0:
        problems.append(Problem(shown, line_of("true_peak"), "E-BOOK-004", "field 'audio.true_peak' must be in -9..0 dBTP"))

    proof_table = data.get("proof", {})
    if not isinstance(proof_table, dict):
        problems.append(Problem(shown, line_of("proof"), "E-BOOK-004", "[proof] must be a table"))
        proof_table = {}
    strict = proof_table.get("strict", False)
    if not isinstance(strict, bool):
        problems.append(Problem(shown, line_of("strict"), "E-BOOK-004",
                                f"field 'proof.strict' must be true or false, got {strict!r}"))
        strict = False

    return dict(
        id=book_id,
        title=need(data, "title", str),
        subtitle=str(data.get("subtitle", "")),
        authors=tuple(authors),
        publisher=need(data, "publisher", str),
        language=language,
        identifier=str(data.get("identifier", "")) or f"urn:isbn:{data.get('isbn', '')}",
        isbn=str(data.get("isbn", "")),
        published=published,
        modified=modified,
        description=need(data, "description", str),
        rights=str(data.get("rights", "")),
        narrator=need(data, "narrator", str),
        cover=cover_path,
        podcast=podcast,
        audio=audio,
        proof=ProofSettings(strict=strict),
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
    n_before = len(problems)
    m = PART_FILE_RE.match(path.name)
    if not m:
        problems.append(Problem(shown, 0, "E-TEXT-007", "part file name must be NN-ID.md (two digits, a dash, the id)"))
    text = _read_text(path, problems)
    if text is None:
        return None
    fm, body_start, ok = _front_matter(text, shown, problems)
    if not ok:
        return None
    part_id = fm.get("id")
    if "id" in fm:
        part_id = _check_id(part_id, shown, fm.get("__lines__", {}).get("id", 2), problems)
        if part_id and m and m.group(2) != part_id:
            problems.append(Problem(shown, fm["__lines__"].get("id", 2), "E-ID-004",
                                    f"id '{part_id}' does not match the file name (expected NN-{part_id}.md)"))
    fl = fm.get("__lines__", {})
    title = fm.get("title")
    if "title" in fm and (not isinstance(title, str) or not title.strip()):
        problems.append(Problem(shown, fl.get("title", 2), "E-FM-004", "field 'title' must be non-empty text"))
    subtitle = fm.get("subtitle", "")
    if not isinstance(subtitle, str):
        problems.append(Problem(shown, fl.get("subtitle", 2), "E-FM-004", "field 'subtitle' must be text"))
        subtitle = ""
    order = fm.get("order")
    if "order" in fm and (isinstance(order, bool) or not isinstance(order, int) or order < 0):
        problems.append(Problem(shown, fl.get("order", 2), "E-FM-004", "field 'order' must be a whole number ≥ 0"))
    elif m and isinstance(order, int) and int(m.group(1)) != order:
        problems.append(Problem(shown, fl.get("order", 2), "E-FM-004",
                                f"field 'order' is {order} but the file name starts with {m.group(1)}"))
    published = fm.get("published")
    if "published" in fm and (not isinstance(published, dt.date) or isinstance(published, dt.datetime)):
        problems.append(Problem(shown, fl.get("published", 2), "E-FM-004", "field 'published' must be a date (YYYY-MM-DD)"))
    print_page = fm.get("print_page")
    if print_page is not None and (isinstance(print_page, bool) or not isinstance(print_page, int) or print_page < 1):
        problems.append(Problem(shown, fl.get("print_page", 2), "E-FM-004", "field 'print_page' must be a page number ≥ 1"))
    narrated = fm.get("narrated", True)
    if not isinstance(narrated, bool):
        problems.append(Problem(shown, fl.get("narrated", 2), "E-FM-004", "field 'narrated' must be true or false"))
        narrated = True
    rec_field = fm.get("recording")
    if rec_field is not None and (not isinstance(rec_field, str) or "/" in rec_field or "\\" in rec_field
                                  or rec_field.startswith(".")):
        problems.append(Problem(shown, fl.get("recording", 2), "E-ID-002",
                                "field 'recording' must be a plain file name inside recordings/"))
        rec_field = None
    if len(problems) > n_before or not part_id:
        # still parse the body to report its problems too
        _parse_body(text, body_start, part_id or "x", shown, problems)
        return None

    sections, subtitle_sentence = _parse_body(text, body_start, part_id, shown, problems,
                                              title=title.strip(), subtitle=subtitle.strip())
    recording = None
    if check_recordings and narrated:
        name = rec_field
        found = [f for f in recs.get(Path(name).stem if name else part_id, []) if not name or f.name == name]
        if found:
            recording = found[0]
        else:
            want = f"recordings/{name}" if name else f"recordings/{part_id}.<mp3|ogg|opus|m4a|wav|flac>"
            problems.append(Problem(shown, fl.get("recording", 1), "E-REC-001",
                                    f"narrated part has no recording (expected {want})"))
    return Part(
        id=part_id, title=title.strip(), subtitle=subtitle.strip(), order=order, published=published,
        source=path, sections=sections, subtitle_sentence=subtitle_sentence, print_page=print_page,
        narrated=narrated, recording=recording,
    )


def _check_id(value: Any, shown: str, line: int, problems: list[Problem]) -> str | None:
    if not isinstance(value, str) or not value:
        problems.append(Problem(shown, line, "E-ID-001", f"field 'id' must be text matching {ID_RE.pattern}"))
        return None
    if "/" in value or "\\" in value or ".." in value or value.startswith("."):
        problems.append(Problem(shown, line, "E-ID-002", f"id {value!r} could escape its folder"))
        return None
    if not ID_RE.match(value):
        problems.append(Problem(shown, line, "E-ID-001", f"id {value!r} must match {ID_RE.pattern}"))
        return None
    return value


def _front_matter(text: str, shown: str, problems: list[Problem]) -> tuple[dict, int, bool]:
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        problems.append(Problem(shown, 1, "E-FM-001", "missing front matter (the file must start with a '---' line)"))
        return {}, 0, False
    end = None
    for i in range(1, len(lines)):
        if lines[i].strip() in ("---", "..."):
            end = i
            break
    if end is None:
        problems.append(Problem(shown, 1, "E-FM-001", "front matter is not closed by a '---' line"))
        return {}, 0, False
    block = "\n".join(lines[1:end])
    try:
        data = yaml.safe_load(block) if block.strip() else {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 2
        msg = getattr(e, "problem", None) or str(e).splitlines()[0]
        problems.append(Problem(shown, line, "E-FM-002", f"front matter is not valid YAML: {msg}"))
        return {}, end + 1, False
    if not isinstance(data, dict):
        problems.append(Problem(shown, 2, "E-FM-002", "front matter must be a mapping of field: value"))
        return {}, end + 1, False
    key_lines = {}
    for i in range(1, end):
        km = re.match(r"^([A-Za-z_][\w-]*)\s*:", lines[i])
        if km:
            key_lines.setdefault(km.group(1), i + 1)
    for key, required in FRONT_MATTER_FIELDS.items():
        if required and key not in data:
            problems.append(Problem(shown, 1, "E-FM-003", f"front matter is missing required field '{key}'"))
    for key in data:
        if key not in FRONT_MATTER_FIELDS:
            problems.append(Problem(shown, key_lines.get(str(key), 2), "E-FM-005",
                                    f"unknown front matter field '{key}' (expected one of "
                                    f"{', '.join(FRONT_MATTER_FIELDS)})"))
    data["__lines__"] = key_lines
    return data, end + 1, True


_MD = MarkdownIt("commonmark")
_REFLECTION_RE = re.compile(r"^questions for reflection$", re.I)


@dataclass
class _SectionBuilder:
    title: str
    line: int
    heading: Sentence
    blocks: list[Block] = field(default_factory=list)
    last_level: int = 2


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
    heading_lines: dict[int, int] = {}
    prev_level = 2
    i = 0
    list_stack: list[dict] = []
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
                heading_lines[len(builders)] = line
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
                list_stack[-1]["items"][-1].extend(sents)
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
            list_stack.append({"line": line, "items": [], "ordered": t.type == "ordered_list_open"})
        elif t.type == "list_item_open":
            list_stack[-1]["items"].append([])
        elif t.type in ("bullet_list_close", "ordered_list_close"):
            lst = list_stack.pop()
            items = tuple(tuple(it) for it in lst["items"] if it)
            if items and not list_stack:
                builders[-1].blocks.append(Block("list", lst["line"], items, ordered=lst["ordered"]))
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


def _inline_text(inline: Any, shown: str, line: int, problems: list[Problem]) -> tuple[str, tuple[tuple[int, int], ...]]:
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
