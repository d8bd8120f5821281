"""Split a whole manuscript (a Markdown export of the printed Case Maker) into part files.

``import_manuscript(path, out_dir)`` reads one Markdown manuscript and writes ``NN-ID.md`` part files in
the text format of ``docs/text-format.md``: an introduction, one part per story, and a summary.

The export this was built for is messy, and the importer repairs what it can:

* front-matter boilerplate (cover, contents, acknowledgements) is skipped; the introduction starts at
  the first "Welcome ..." heading (or at the first top-level heading that is not boilerplate);
* stories are the titles listed on the "FEATURING..." page (``**Title** | p.NN`` and an italic tagline),
  each found again as a heading further on; without such a page, a story is any heading after
  "# STORIES" whose section holds a "Questions for reflection" block;
* paragraphs cut in two by a page break are joined again (also across dropped "Image source" lines and
  across a pull quote placed between the halves), as are quotations cut at a page break;
* links keep their text, stray ``**`` / ``*`` / ``\\*`` markers and drop caps are removed, "Image
  source: X" lines are dropped, footnote notes ("*Note: ...") become a plain final paragraph;
* whole-paragraph bold becomes a ``>`` pull quote (a short bold line with no full stop is a heading
  instead, a bold line ending in ':' a plain lead-in), and so does a heading longer than 12 words
  (unless it is a question of at most 20 words, like the FAQ headings of the introduction);
* the italic tagline (or a heading) straight after a story's title becomes the subtitle;
* headings are normalised: in a story every heading is a ``##`` section (the export's ``###``/``####``
  split is typography, not structure); elsewhere the top two levels become ``##`` and deeper ones
  ``###``; empty headings are dropped; ALL-CAPS headings become sentence case, keeping the casing the
  manuscript uses for proper nouns ("THE CASE MAKER" -> "the Case Maker", "MAIA" stays "MAIA");
* "Questions for reflection" blocks are collected, merged, de-duplicated and moved to the end of their
  story as ``## Questions for reflection`` with ``### Digging deeper`` / ``### Applying the learning``.
  A block stranded in the middle of a story is given to the previous story when that story has none
  of its own and the questions match its text better (in the Case Maker export, Poppy's questions sit
  inside MAIA).

Only the standard library and PyYAML are used. Every file is written to a temporary file in ``out_dir``
and renamed into place.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
import unicodedata
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

__all__ = [
    "ManuscriptError",
    "import_manuscript",
    "join_broken_paragraphs",
    "should_join",
    "sentence_case",
    "slugify",
    "ID_OVERRIDES",
]

#: First ``published`` date; a part's date is this plus ``order`` days.
PUBLISHED_BASE = dt.date(2024, 3, 1)

#: Part ids that are not simply the slug of the story title (keys are normalised titles).
ID_OVERRIDES: dict[str, str] = {
    "barking & dagenham: children's social services": "barking-dagenham",
    "nhs palliative care": "nhs-palliative-care",
    "three community groups": "community-groups",
    "gateshead community bridgebuilders": "gateshead-bridgebuilders",
    "poppy's": "poppys",
}

INTRO_ID, INTRO_TITLE = "introduction", "Introduction"
SUMMARY_ID, SUMMARY_TITLE = "summary", "Summary"

#: A heading with more words than this is a pull quote set as a heading.
MAX_HEADING_WORDS = 12

QUESTIONS_TITLE = "Questions for reflection"
DIGGING_TITLE = "Digging deeper"
APPLYING_TITLE = "Applying the learning"

_QUESTIONS_RE = re.compile(r"^questions for reflection\b", re.I)
_DIGGING_RE = re.compile(r"^digging deeper\b", re.I)
_APPLYING_RE = re.compile(r"^applying the learning\b", re.I)
_WELCOME_RE = re.compile(r"^welcome\b", re.I)
_BOILERPLATE_RE = re.compile(r"^(contents|table of contents|acknowledge?ments?|copyright|colophon|credits)$", re.I)
_FEATURING_RE = re.compile(r"^featuring\b", re.I)
_STORIES_RE = re.compile(r"^stories$", re.I)
_SUMMARY_RE = re.compile(r"^summary$", re.I)
_FEATURE_ENTRY_RE = re.compile(r"^\*\*(?P<title>[^*]+?)\*\*\s*\|\s*p(?:age|\.)?\s*(?P<page>\d+)\s*$", re.I)
_IMAGE_SOURCE_RE = re.compile(r"^[\s*_]*image (source|credit)s?\s*:", re.I)
_NOTE_RE = re.compile(r"^(?:\\?\*|\s)*note\s*:", re.I)
_HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_LIST_RE = re.compile(r"^\s*[-*+]\s+(.*)$")
_LINK_RE = re.compile(r"!?\[((?:\\.|[^\]\\])*)\]\(([^()\s]*(?:\([^()\s]*\))?[^()\s]*)(?:\s+\"[^\"]*\")?\)")
_AUTOLINK_RE = re.compile(r"<((?:https?|mailto):[^>\s]+)>", re.I)
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z'’&/-]*")

#: Closing quotation marks and brackets that may follow a sentence's final punctuation.
_CLOSERS = "\"'”’)]»"
#: Final punctuation after which a paragraph is complete (';' and ',' are not).
_TERMINAL = ".?!:…"
#: Words a sentence cannot end on: a paragraph ending in one was cut.
_FUNCTION_WORDS = frozenset("""
a an the of to in on at by for from with into onto upon about as and or but nor that which who whom
whose this these those their his her its our your my is are was were be been being has have had do
does did will would can could should shall may might must than then so if when where while because
although though very such not no every each some any more most less own between through over under
""".split())


class ManuscriptError(Exception):
    """The manuscript cannot be imported; the message names ``file:line`` and what was expected."""

    def __init__(self, path: Path | str, line: int, message: str):
        self.path = str(path)
        self.line = line
        self.message = message
        super().__init__(f"{self.path}:{line}: {message}")


# ----------------------------------------------------------------------------------------- model


@dataclass
class _Block:
    """One block of the manuscript. ``raw`` keeps the source Markdown, ``text`` the cleaned text."""

    kind: str  # "heading", "para", "list", "quote"
    line: int
    raw: str = ""
    text: str = ""
    level: int = 0
    items: list[str] = field(default_factory=list)
    pseudo: bool = False  # a heading that was a bold line in the source


@dataclass
class _Featured:
    title: str
    page: int | None
    tagline: str
    line: int


@dataclass
class _Questions:
    digging: list[str] = field(default_factory=list)
    applying: list[str] = field(default_factory=list)

    def extend(self, other: _Questions) -> None:
        for mine, theirs in ((self.digging, other.digging), (self.applying, other.applying)):
            seen = {_norm(q) for q in mine}
            for q in theirs:
                if _norm(q) not in seen:
                    mine.append(q)
                    seen.add(_norm(q))

    def __bool__(self) -> bool:
        return bool(self.digging or self.applying)

    def text(self) -> str:
        return " ".join(self.digging + self.applying)


@dataclass
class _Part:
    id: str
    title: str
    subtitle: str
    order: int
    blocks: list[_Block]
    print_page: int | None = None
    is_story: bool = False
    questions: _Questions = field(default_factory=_Questions)


# ---------------------------------------------------------------------------------- entry point


def import_manuscript(path: Path, out_dir: Path) -> list[Path]:
    """Split the manuscript at ``path`` into ``NN-ID.md`` part files in ``out_dir``; return their paths.

    Raises :class:`ManuscriptError` (naming ``file:line``) when the manuscript cannot be used.
    """
    path = Path(path)
    out_dir = Path(out_dir)
    text = _read_manuscript(path)
    blocks = _parse_blocks(text)
    parts = _split_parts(path, blocks)
    casing = _CasingGuide(b for b in blocks if b.kind in ("para", "list"))
    rendered = [(p, _finish_part(p, casing)) for p in parts]
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for part, body in rendered:
        target = out_dir / f"{part.order:02d}-{part.id}.md"
        _write_atomic(target, body)
        written.append(target)
    return written


def _read_manuscript(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ManuscriptError(path, 0, f"cannot read the manuscript ({e.strerror or e})") from e
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ManuscriptError(path, line, f"not valid UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start}); "
                                          "expected a UTF-8 Markdown file") from e
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _write_atomic(target: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# -------------------------------------------------------------------------------------- parsing


def _parse_blocks(text: str) -> list[_Block]:
    """Markdown lines -> headings, paragraphs and lists (with their 1-based source lines)."""
    blocks: list[_Block] = []
    para: list[str] = []
    para_line = 0
    in_list: _Block | None = None

    def flush_para() -> None:
        nonlocal para
        if para:
            blocks.append(_Block("para", para_line, raw=" ".join(s.strip() for s in para)))
            para = []

    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():  # str.strip() also removes no-break spaces
            flush_para()
            in_list = None
            continue
        m = _HEADING_RE.match(line)
        if m:  # a heading or a list item interrupts a paragraph, as in CommonMark
            flush_para()
            in_list = None
            blocks.append(_Block("heading", n, raw=m.group(2), level=len(m.group(1))))
            continue
        m = _LIST_RE.match(line)
        if m:
            flush_para()
            item = re.sub(r"^#+\s+", "", m.group(1).strip())  # "- # In the Case Maker"
            if in_list is None:
                in_list = _Block("list", n)
                blocks.append(in_list)
            in_list.items.append(item)
            continue
        if in_list is not None:  # a continuation line of the last item (a hard line break)
            in_list.items[-1] += "\n" + line.strip()
            continue
        if not para:
            para_line = n
        para.append(line)
    flush_para()
    return blocks


# -------------------------------------------------------------------------------------- cleaning


def _clean_inline(s: str) -> str:
    """Markdown inline markup -> the plain text of the format (no links, italics or stray markers)."""
    s = s.replace("\\*", "")  # footnote markers escaped in the export
    s = _LINK_RE.sub(lambda m: m.group(1), s)
    s = _AUTOLINK_RE.sub(lambda m: _bare_url(m.group(1)), s)
    s = re.sub(r"\\+([\\`*_{}\[\]()#+\-.!|<>~])", r"\1", s)  # escapes, including "\\_"
    s = s.replace("*", "")  # bold, italics and stray markers
    s = re.sub(r"<[^<>\n]+>", "", s)  # stray HTML
    s = re.sub(r"\s+", " ", s).strip()
    s = re.sub(r"([“‘])\s+", r"\1", s)  # "“ To say" -> "“To say"
    s = re.sub(r"\s+([”’])(?=\s|$|[.,;:!?])", r"\1", s)
    s = re.sub(r"\s+([,.;:!?])(?=\s|$)", r"\1", s)
    return s


def _bare_url(url: str) -> str:
    url = re.sub(r"^(https?://|mailto:)", "", url, flags=re.I)
    return url.rstrip("/")


_plain = _clean_inline


def _norm(s: str) -> str:
    """A comparison key: plain text, straight quotes, lower case, single spaces."""
    s = _plain(s).replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return re.sub(r"\s+", " ", s).strip().lower()


def slugify(title: str) -> str:
    """A part id from a title: ASCII, lower case, words joined by '-' ("Poppy's" -> "poppys")."""
    s = unicodedata.normalize("NFKD", _plain(title)).encode("ascii", "ignore").decode("ascii").lower()
    s = re.sub(r"['`]", "", s).replace("&", " and ")
    return re.sub(r"[^a-z0-9]+", "-", s).strip("-") or "part"


def _part_id(title: str) -> str:
    return ID_OVERRIDES.get(_norm(title), slugify(title))


def _is_bold_para(raw: str) -> bool:
    s = raw.strip()
    return len(s) > 4 and s.startswith("**") and s.endswith("**") and "**" not in s[2:-2]


def _is_italic_para(raw: str) -> bool:
    s = raw.replace("\\*", "").strip()
    return (len(s) > 2 and s.startswith("*") and s.endswith("*") and not s.startswith("**")
            and "*" not in s[1:-1])


def _ends_terminal(text: str) -> bool:
    s = text.rstrip().rstrip("*_ ")
    stripped = s.rstrip(_CLOSERS)
    if not stripped:
        return True
    if stripped[-1] in _TERMINAL or stripped.endswith("..."):
        return True
    # "... said “home”" ends with a closing quote after a word: complete for our purposes, but
    # "... their family’," ends with a comma and is not
    return len(stripped) < len(s) and stripped[-1].isalnum()


def _words(s: str) -> list[str]:
    return re.findall(r"[\w’'&/-]+", _plain(s))


def _first_letter(s: str) -> str:
    m = re.search(r"[^\W\d_]", s)
    return m.group(0) if m and m.start() == 0 else ""


def _quote_balance(s: str) -> tuple[int, int]:
    """(closes with no opener, openers left open) for double quotes, curly or straight."""
    depth = 0
    dangling = 0
    for i, ch in enumerate(s):
        if ch == "“":
            depth += 1
        elif ch == "”":
            if depth:
                depth -= 1
            else:
                dangling += 1
        elif ch == '"':
            before = s[i - 1] if i else " "
            after = s[i + 1] if i + 1 < len(s) else " "
            opening = (before.isspace() or before in "([{—–-") and not after.isspace()
            if opening:
                depth += 1
            elif depth:
                depth -= 1
            else:
                dangling += 1
    return dangling, depth


def should_join(before: str, after: str) -> bool:
    """True when paragraph ``after`` continues paragraph ``before`` across a page break.

    ``before`` must end without final punctuation, and ``after`` must start in lower case, or
    ``before`` must end on a word no sentence ends on ("... on a" / "Thursday"), or ``before`` must
    leave a quotation open that ``after`` closes.
    """
    a, b = _plain(before), _plain(after)
    if not a or not b or _ends_terminal(a):
        return False
    first = _first_letter(b)
    if first and first.islower():
        return True
    last_word = re.sub(r"[^\w’'-]+$", "", a).rsplit(" ", 1)[-1].lower()
    if last_word in _FUNCTION_WORDS and a[-1].isalnum():
        return True
    return _quote_balance(a)[1] > 0 and _quote_balance(b)[0] > 0


def _glue(a: str, b: str) -> str:
    if re.search(r"[A-Za-z]-$", a) and (_first_letter(b) or " ").islower():
        return a + b
    return a + " " + b


def join_broken_paragraphs(paragraphs: list[str]) -> list[str]:
    """Join paragraphs that a page break cut in two (see :func:`should_join`)."""
    out: list[str] = []
    for p in paragraphs:
        if out and should_join(out[-1], p):
            out[-1] = _glue(out[-1], p)
        else:
            out.append(p)
    return out


class _CasingGuide:
    """How the manuscript writes each word (or phrase) mid-sentence: 'MAIA', 'Case Maker', 'the'."""

    def __init__(self, blocks):
        self.forms: dict[tuple[str, ...], Counter] = {}
        for b in blocks:
            texts = b.items if b.kind == "list" else [b.raw]
            for t in texts:
                self._add(_plain(t))

    def _add(self, text: str) -> None:
        tokens = [(m.group(0), m.start()) for m in _WORD_RE.finditer(text)]
        for i, (_tok, pos) in enumerate(tokens):
            before = text[:pos].rstrip()
            if not before or before[-1] in ".?!:“\"‘'(—–-":
                continue  # a sentence start says nothing about a word's casing
            for n in (1, 2, 3):
                if i + n > len(tokens):
                    break
                gram = tuple(t for t, _ in tokens[i:i + n])
                self.forms.setdefault(tuple(g.lower() for g in gram), Counter())[gram] += 1

    def case(self, words: list[str]) -> list[str]:
        """Sentence-case ``words`` (upper-case input), keeping proper nouns as the manuscript has them."""
        out = [w.lower() for w in words]
        i = 0
        while i < len(words):
            for n in (3, 2, 1):
                key = tuple(w.lower() for w in words[i:i + n])
                if len(key) < n or key not in self.forms:
                    continue
                form, count = self.forms[key].most_common(1)[0]
                lower = self.forms[key].get(key, 0)
                if any(ch.isupper() for ch in "".join(form)) and count > lower:
                    out[i:i + n] = list(form)
                    i += n
                    break
            else:
                i += 1
        if out:
            out[0] = out[0][:1].upper() + out[0][1:]
        return out


def sentence_case(text: str, casing: _CasingGuide | None = None) -> str:
    """'QUESTIONS FOR REFLECTION' -> 'Questions for reflection'; text with lower case is left alone."""
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 2 or any(c.islower() for c in letters):
        return text
    matches = list(_WORD_RE.finditer(text))
    words = [m.group(0) for m in matches]
    cased = (casing or _CasingGuide([])).case(words)
    pieces, last = [], 0
    for m, w in zip(matches, cased):
        pieces.append(text[last:m.start()])
        pieces.append(w)
        last = m.end()
    pieces.append(text[last:])
    return "".join(pieces)


def _heading_text(raw: str) -> str:
    s = _plain(raw)
    return re.sub(r"\s*:\s*$", "", s).strip()


# ------------------------------------------------------------------------------------ splitting


def _heading_indexes(blocks: list[_Block], pattern: re.Pattern, level: int | None = None,
                     start: int = 0) -> list[int]:
    return [i for i in range(start, len(blocks))
            if blocks[i].kind == "heading" and pattern.search(_heading_text(blocks[i].raw))
            and (level is None or blocks[i].level == level)]


def _split_parts(path: Path, blocks: list[_Block]) -> list[_Part]:
    contents = _parse_contents(blocks)
    featured, feat_idx = _parse_featuring(blocks)
    if featured:
        story_starts = _find_featured_stories(path, blocks, featured, feat_idx)
        intro_end = feat_idx
    else:
        story_starts = _find_stories_by_questions(blocks)
        intro_end = story_starts[0] if story_starts else len(blocks)
    if not story_starts:
        raise ManuscriptError(path, blocks[0].line if blocks else 1,
                              "no stories found: expected a 'FEATURING...' page listing '**Title** | p.NN' "
                              "entries, or '## Title' headings after '# STORIES' each with a "
                              "'Questions for reflection' section")

    # the end of the last story: after its questions, at the next heading at its level or above
    last = story_starts[-1]
    summary_marks = _heading_indexes(blocks, _SUMMARY_RE, start=last + 1)
    story_end = summary_marks[0] if summary_marks else len(blocks)
    q_idx = [i for i in range(last + 1, story_end) if _is_questions_heading(blocks[i])]
    if q_idx:
        after = _questions_block_end(blocks, q_idx[-1])
        nxt = [i for i in range(after, len(blocks)) if blocks[i].kind == "heading"
               and blocks[i].level <= blocks[last].level and not _is_questions_heading(blocks[i])]
        story_end = nxt[0] if nxt else len(blocks)
    bounds = list(zip(story_starts, story_starts[1:] + [story_end]))

    parts: list[_Part] = []
    intro_start = _intro_start(blocks, intro_end)
    intro_blocks = blocks[intro_start:intro_end]
    first_entry = contents[0] if contents else None
    if any(b.kind != "heading" for b in intro_blocks):
        parts.append(_Part(INTRO_ID, INTRO_TITLE, first_entry[2] if first_entry else _book_subtitle(blocks),
                           0, intro_blocks, print_page=first_entry[1] if first_entry else None))

    used_ids = {INTRO_ID, SUMMARY_ID}
    by_title = {_norm(f.title): f for f in featured}
    for n, (start, end) in enumerate(bounds, 1):
        heading = blocks[start]
        title = _heading_text(heading.raw)
        feat = by_title.get(_norm(title))
        part_id = _part_id(title)
        base, k = part_id, 2
        while part_id in used_ids:
            part_id, k = f"{base}-{k}", k + 1
        used_ids.add(part_id)
        body = blocks[start + 1:end]
        subtitle, body = _take_subtitle(body, feat.tagline if feat else "")
        if not subtitle and feat:
            subtitle = _plain(feat.tagline)
        parts.append(_Part(part_id, title, subtitle, n, body, print_page=feat.page if feat else None,
                           is_story=True))

    summary_blocks = blocks[story_end:]
    if any(b.kind != "heading" for b in summary_blocks):
        entry = next((c for c in contents if _SUMMARY_RE.match(c[0])), None)
        parts.append(_Part(SUMMARY_ID, SUMMARY_TITLE, entry[2] if entry else "", len(bounds) + 1,
                           summary_blocks))
    _assign_questions(parts)
    return parts


def _parse_contents(blocks: list[_Block]) -> list[tuple[str, int | None, str]]:
    """The contents page: (entry, page, description) for each '## Entry' / 'NN' / 'description'."""
    idx = _heading_indexes(blocks, re.compile(r"^(table of )?contents$", re.I))
    if not idx:
        return []
    entries: list[tuple[str, int | None, str]] = []
    top = blocks[idx[0]].level
    for b in blocks[idx[0] + 1:]:
        if b.kind == "heading" and b.level <= top:
            break
        if b.kind == "heading":
            entries.append((_heading_text(b.raw), None, ""))
        elif b.kind == "para" and entries:
            name, page, desc = entries[-1]
            if page is None and re.fullmatch(r"\d{1,4}", b.raw.strip()):
                entries[-1] = (name, int(b.raw.strip()), desc)
            elif not desc:
                entries[-1] = (name, page, _plain(b.raw))
    return entries


def _book_subtitle(blocks: list[_Block]) -> str:
    if blocks and blocks[0].kind == "heading" and len(blocks) > 1 and blocks[1].kind == "para":
        return _plain(blocks[1].raw)
    return ""


def _parse_featuring(blocks: list[_Block]) -> tuple[list[_Featured], int]:
    for i in _heading_indexes(blocks, _FEATURING_RE):
        entries: list[_Featured] = []
        for j in range(i + 1, len(blocks)):
            b = blocks[j]
            if b.kind == "heading":
                break
            m = _FEATURE_ENTRY_RE.match(b.raw.strip()) if b.kind == "para" else None
            if m:
                entries.append(_Featured(_plain(m.group("title")), int(m.group("page")), "", b.line))
            elif b.kind == "para" and entries and not entries[-1].tagline and _is_italic_para(b.raw):
                entries[-1].tagline = _plain(b.raw)
        if entries:
            return entries, i
    return [], -1


def _find_featured_stories(path: Path, blocks: list[_Block], featured: list[_Featured], after: int) -> list[int]:
    starts: list[int] = []
    pos = after + 1
    for f in featured:
        key = _norm(f.title)
        hit = next((i for i in range(pos, len(blocks))
                    if blocks[i].kind == "heading" and _norm(_heading_text(blocks[i].raw)) == key), None)
        if hit is None:
            raise ManuscriptError(path, f.line, f"story '{f.title}' is listed here but no heading "
                                                f"'## {f.title}' follows it")
        starts.append(hit)
        pos = hit + 1
    return starts


def _find_stories_by_questions(blocks: list[_Block]) -> list[int]:
    marks = _heading_indexes(blocks, _STORIES_RE, level=1)
    lo = marks[0] + 1 if marks else 0
    ends = _heading_indexes(blocks, _SUMMARY_RE, level=1, start=lo)
    hi = ends[0] if ends else len(blocks)
    heads = [i for i in range(lo, hi) if blocks[i].kind == "heading" and blocks[i].level > 1
             and not _is_questions_heading(blocks[i])]
    if not heads:
        return []
    level = min(blocks[i].level for i in heads)
    candidates = [i for i in heads if blocks[i].level == level]
    stories = []
    for k, i in enumerate(candidates):
        end = candidates[k + 1] if k + 1 < len(candidates) else hi
        if any(_is_questions_heading(blocks[j]) for j in range(i + 1, end)):
            stories.append(i)
    return stories


def _intro_start(blocks: list[_Block], end: int) -> int:
    for i in range(end):
        if blocks[i].kind == "heading" and _WELCOME_RE.search(_heading_text(blocks[i].raw)):
            return i
    tops = [i for i in range(end) if blocks[i].kind == "heading" and blocks[i].level == 1]
    for i in tops[1:] if tops and tops[0] == 0 else tops:  # the first heading is the cover's title
        if not _BOILERPLATE_RE.match(_heading_text(blocks[i].raw)):
            return i
    return 0


def _take_subtitle(body: list[_Block], tagline: str = "") -> tuple[str, list[_Block]]:
    """The tagline straight after a story's title: an italic paragraph, or a heading that is italic or
    repeats the tagline of the featured-stories page."""
    if body:
        first = body[0]
        if first.kind == "para" and _is_italic_para(first.raw):
            return _plain(first.raw), body[1:]
        if first.kind == "heading" and (_is_italic_para(first.raw) or (tagline and _norm(first.raw) == _norm(tagline))):
            return _plain(first.raw), body[1:]
    return "", body


# ------------------------------------------------------------------------------------- questions


def _is_questions_heading(b: _Block) -> bool:
    if b.kind == "heading":
        return bool(_QUESTIONS_RE.match(_heading_text(b.raw)))
    return b.kind == "para" and _is_bold_para(b.raw) and bool(_QUESTIONS_RE.match(_heading_text(b.raw)))


def _is_questions_sub(b: _Block) -> str | None:
    if b.kind == "heading" or (b.kind == "para" and _is_bold_para(b.raw)):
        t = _heading_text(b.raw)
        if _DIGGING_RE.match(t):
            return "digging"
        if _APPLYING_RE.match(t):
            return "applying"
    return None


def _questions_block_end(blocks: list[_Block], start: int) -> int:
    """Index just after a questions block: its heading, sub-headings and their lists."""
    i = start + 1
    while i < len(blocks) and (blocks[i].kind == "list" or _is_questions_sub(blocks[i])):
        i += 1
    return i


def _extract_questions(blocks: list[_Block]) -> list[tuple[int, _Questions, bool]]:
    """Remove questions blocks from ``blocks``; return (position, questions, has_text_after)."""
    found: list[tuple[int, _Questions, bool]] = []
    i = 0
    while i < len(blocks):
        if not _is_questions_heading(blocks[i]):
            i += 1
            continue
        end = _questions_block_end(blocks, i)
        q = _Questions()
        target = q.digging
        for b in blocks[i + 1:end]:
            sub = _is_questions_sub(b)
            if sub:
                target = q.digging if sub == "digging" else q.applying
            else:
                target.extend(_clean_item(it) for it in b.items)
        del blocks[i:end]
        stranded = any(b.kind in ("para", "list") and not _IMAGE_SOURCE_RE.match(b.raw) for b in blocks[i:])
        found.append((i, q, stranded))
    return found


def _overlap(questions: _Questions, blocks: list[_Block]) -> float:
    """How well questions match a story's text: shared distinctive word pairs and words."""
    def grams(text: str) -> tuple[set, set]:
        words = [w for w in re.findall(r"[a-z]+", _norm(text)) if len(w) > 3 and w not in _FUNCTION_WORDS]
        return set(words), set(zip(words, words[1:]))
    text = " ".join(b.raw if b.kind != "list" else " ".join(b.items) for b in blocks)
    qw, qp = grams(questions.text())
    tw, tp = grams(text)
    return len(qw & tw) + 3 * len(qp & tp)


def _assign_questions(parts: list[_Part]) -> None:
    stories = [p for p in parts if p.is_story]
    pending: list[tuple[_Part, _Questions, bool]] = []
    for p in stories:
        for _, q, stranded in _extract_questions(p.blocks):
            pending.append((p, q, stranded))
    own = {id(p): any(not s for owner, _, s in pending if owner is p) for p in stories}
    for owner, q, stranded in pending:
        target = owner
        k = stories.index(owner)
        if stranded and k > 0:
            prev = stories[k - 1]
            if not own[id(prev)] and not prev.questions and _overlap(q, prev.blocks) > _overlap(q, owner.blocks):
                target = prev
        target.questions.extend(q)


# ------------------------------------------------------------------------------------ finishing


def _clean_item(item: str) -> str:
    """A list item: 'label** rest' (a bold label that lost its opening marker) -> 'Label: rest'."""
    m = re.match(r"^(?!\*\*)([^*\n]{1,80}?)\*\*\s+(.+)$", item, re.S)
    if m:
        label, rest = _plain(m.group(1)), _plain(m.group(2))
        label = label[:1].upper() + label[1:]
        return f"{label}{'' if label[-1:] in ':.?!' else ':'} {rest}"
    head, _, tail = item.partition("\n")
    if tail:
        h, t = _plain(head), _plain(tail)
        if not h:
            return t
        return f"{h}{' ' if h[-1:] in ':.?!' else ': '}{t}"
    return _plain(item)


def _rejoin_split_bold(blocks: list[_Block]) -> list[_Block]:
    """'**A bold passage cut' / 'by a page break.**' -> one bold paragraph (a pull quote)."""
    out: list[_Block] = []
    for b in blocks:
        if b.kind == "para" and _IMAGE_SOURCE_RE.match(b.raw):
            continue
        prev = out[-1] if out else None
        if (b.kind == "para" and prev is not None and prev.kind == "para"
                and prev.raw.strip().startswith("**") and prev.raw.count("**") % 2 == 1
                and b.raw.strip().endswith("**") and b.raw.count("**") % 2 == 1):
            out[-1] = replace(prev, raw=_glue(prev.raw.strip(), b.raw.strip()))
            continue
        out.append(b)
    return out


def _classify(blocks: list[_Block], is_story: bool) -> list[_Block]:
    """Raw blocks -> cleaned headings, paragraphs, pull quotes and lists."""
    blocks = _rejoin_split_bold(blocks)
    out: list[_Block] = []
    last_level = 2
    i = 0
    while i < len(blocks):
        b = blocks[i]
        if b.kind == "para" and _IMAGE_SOURCE_RE.match(b.raw):
            i += 1
            continue
        if b.kind == "heading":
            text = _heading_text(b.raw)
            if not text:
                i += 1
                continue
            if _is_quote_heading(text):
                out.append(_Block("quote", b.line, raw=b.raw, text=_plain(b.raw)))
            else:
                last_level = b.level
                out.append(replace(b, text=text))
            i += 1
            continue
        if b.kind == "list":
            out.append(replace(b, items=[t for t in (_clean_item(it) for it in b.items) if t]))
            i += 1
            continue
        # paragraphs
        run = _bold_lead_run(blocks, i)
        if run > 1:
            out.append(_Block("list", b.line, items=[_plain(x.raw) for x in blocks[i:i + run]]))
            i += run
            continue
        text = _plain(b.raw)
        if not text:
            i += 1
            continue
        if _is_bold_para(b.raw):
            inner = text
            if inner.endswith(":"):
                out.append(_Block("para", b.line, raw=b.raw, text=inner))
            elif len(_words(inner)) <= MAX_HEADING_WORDS and not _ends_terminal(inner):
                out.append(_Block("heading", b.line, raw=b.raw, text=_heading_text(b.raw), level=last_level,
                                  pseudo=True))
            else:
                out.append(_Block("quote", b.line, raw=b.raw, text=inner))
        elif _NOTE_RE.match(b.raw) and is_story:
            note = re.sub(r"^note\s*:\s*", "Note: ", text, flags=re.I)
            if not _ends_terminal(note):
                note += "."
            out.append(_Block("note", b.line, raw=b.raw, text=note))
        else:
            out.append(_Block("para", b.line, raw=b.raw, text=text))
        i += 1
    return out


def _is_quote_heading(text: str) -> bool:
    """A heading that is really a pull quote: a sentence of more than MAX_HEADING_WORDS words. A
    question of up to 20 words stays a heading ("I don't work in any of these sectors. Are these
    relevant for me?")."""
    n = len(_words(text))
    if n <= MAX_HEADING_WORDS:
        return False
    return not (text.rstrip(_CLOSERS).endswith("?") and n <= 20)


def _bold_lead_run(blocks: list[_Block], i: int) -> int:
    """How many paragraphs from ``i`` read like list items: '**Lead phrase** rest' without a full stop."""
    n = 0
    while i + n < len(blocks):
        b = blocks[i + n]
        if not (b.kind == "para" and re.match(r"^\*\*[^*]+\*\*\s+\S", b.raw.strip())
                and not _ends_terminal(_plain(b.raw))):
            break
        n += 1
    return n


def _join_page_breaks(blocks: list[_Block]) -> list[_Block]:
    """Join paragraph halves split by a page break (a pull quote may stand between the halves)."""
    out: list[_Block] = []
    for b in blocks:
        if b.kind == "para" and out:
            j = len(out) - 1
            while j >= 0 and out[j].kind == "quote":
                j -= 1
            prev = out[j] if j >= 0 else None
            if prev is not None and prev.kind == "para":
                if should_join(prev.text, b.text):
                    prev.text = _glue(prev.text, b.text)
                    continue
                if _continues_quotation(prev.text, b.text) and j == len(out) - 1:
                    prev.text = prev.text[:-1] + " " + b.text
                    continue
        out.append(b)
    return out


def _continues_quotation(before: str, after: str) -> bool:
    """``after`` closes a quotation it never opened, and ``before`` closed one at its very end:
    a quotation continued over a page break whose first half was closed by mistake."""
    dangling, _ = _quote_balance(after)
    if not dangling or _quote_balance(before) != (0, 0):
        return False
    return len(before) > 2 and before[-1] in "\"”" and before[-2] in ".?!,"


def _fix_dangling_quotes(blocks: list[_Block]) -> None:
    """A paragraph that closes a quotation it never opened gets the missing opening mark."""
    for b in blocks:
        if b.kind != "para":
            continue
        dangling, open_ = _quote_balance(b.text)
        if dangling == 1 and open_ == 0 and b.text[:1] not in "\"“":
            first_close = min((k for k in (b.text.find('"'), b.text.find("”")) if k >= 0), default=-1)
            mark = "“" if b.text[first_close] == "”" else '"'
            b.text = mark + b.text


def _normalise_headings(blocks: list[_Block], is_story: bool, casing: _CasingGuide) -> list[_Block]:
    heads = [b for b in blocks if b.kind == "heading"]
    top = heads[0].level if heads else 2
    top = max(top, 2) if not is_story else top
    for b in heads:
        if is_story:
            b.level = 2
        else:
            b.level = 2 if b.level <= top else 3
        b.text = sentence_case(b.text, casing)
    # drop headings with nothing under them
    changed = True
    while changed:
        changed = False
        for k, b in enumerate(blocks):
            if b.kind != "heading":
                continue
            nxt = blocks[k + 1] if k + 1 < len(blocks) else None
            if nxt is None or (nxt.kind == "heading" and nxt.level <= b.level):
                del blocks[k]
                changed = True
                break
    # never skip a level: a '###' with no '##' before it becomes '##'
    seen_section = False
    for b in blocks:
        if b.kind == "heading":
            if b.level == 3 and not seen_section:
                b.level = 2
            seen_section = seen_section or b.level == 2
    return blocks


def _finish_part(part: _Part, casing: _CasingGuide) -> str:
    blocks = _classify(part.blocks, part.is_story)
    blocks = _join_page_breaks(blocks)
    _fix_dangling_quotes(blocks)
    notes = [b for b in blocks if b.kind == "note"]
    blocks = [b for b in blocks if b.kind != "note"]
    for b in notes:  # footnote notes close the story's text, as plain paragraphs
        blocks.append(_Block("para", b.line, text=b.text))
    blocks = _normalise_headings(blocks, part.is_story, casing)

    title = sentence_case(part.title, casing)
    meta = {"id": part.id, "title": title, "subtitle": part.subtitle, "order": part.order,
            "published": PUBLISHED_BASE + dt.timedelta(days=part.order)}
    if part.print_page:
        meta["print_page"] = part.print_page
    front = yaml.safe_dump(meta, sort_keys=True, allow_unicode=True, default_flow_style=False, width=1000)

    chunks: list[str] = []
    for b in blocks:
        if b.kind == "heading":
            chunks.append("#" * b.level + " " + b.text)
        elif b.kind == "quote":
            chunks.append("> " + b.text)
        elif b.kind == "list":
            if b.items:
                chunks.append("\n".join("- " + it for it in b.items))
        elif b.text:
            chunks.append(b.text)
    if part.questions:
        chunks.append("## " + QUESTIONS_TITLE)
        for sub, items in ((DIGGING_TITLE, part.questions.digging), (APPLYING_TITLE, part.questions.applying)):
            if items:
                chunks.append("### " + sub)
                chunks.append("\n".join("- " + q for q in items))
    return "---\n" + front + "---\n\n" + "\n\n".join(chunks) + "\n"
