"""The large-print web edition: ``output/index.html`` and ``output/stories/ID.html``, with read-along.

Readers get UK large-print typography (UKAAF, RNIB) and WCAG 2.2 structure from the stylesheet in
``pipeline/static/largeprint.css``; the pages are written by jinja2 (autoescaped) from the templates
``pipeline/templates/web-*.html``. Every spoken element (title, subtitle, headings, sentences) is a
``<span id="SENTENCE_ID" data-begin data-end>`` timed by its audible clip in the part's sync map
(``build/sync/ID.json``, ``syncmap.audible_clips``: without the unscripted speech or false starts its
span holds), so ``pipeline/static/readalong.js`` can highlight the sentence being read and play from any
sentence. A sentence the narrator did not read has no times (``class="s unread"``, followed by a short
note saying so): it is never highlighted and nothing plays from it. A sentence whose words the sync map
timed also carries ``data-words`` (each word's begin and end) for word read-along, and a narrated page
has a listening bar (``pipeline/static/player.js``) with the part's sections from its sync map's chapters.
Without scripting the page still reads, and the ``<audio controls>`` player still plays.

Safety: no inline script or style (a Content-Security-Policy meta tag forbids both), every link is
relative and names a file (``stories/ID.html``, ``../index.html``) so the site works from ``file://``
and from a web server. Output is deterministic: the same inputs give the same bytes.

    python -m pipeline web texts --sync build/sync --site output -o output/index.html
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

import jinja2

from pipeline.model.contracts import audible_clips, mismatch, read_syncmap, words_of
from pipeline.model.problems import InputError, Problem, display_path
from pipeline.model.sources import load_book
from pipeline.stages.markup import join_names, segments
from pipeline.system.fsutil import atomic_write_bytes, atomic_write_text

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
STATIC = Path(__file__).resolve().parents[1] / "static"


def static_files() -> list[str]:
    """Every file under ``pipeline/static/`` (subfolders too: ``fonts/``), as posix paths relative to it,
    sorted: each is copied byte for byte to ``SITE/static/`` (text and binary alike)."""
    return sorted(p.relative_to(STATIC).as_posix() for p in STATIC.rglob("*")
                  if p.is_file() and not any(part.startswith(".") or part == "__pycache__"
                                             for part in p.relative_to(STATIC).parts))

# The whole policy: our own files only, nothing inline, no plugins, no forms, no base rewriting.
# (frame-ancestors cannot be set from a meta tag; a server should send it as a header.)
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; "
       "font-src 'self'; connect-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'")


# ---------------------------------------------------------------------------- the view model


@dataclass(frozen=True)
class SentenceView:
    id: str
    segments: tuple[tuple[str, bool], ...]   # (text, strong) runs
    begin: str | None                        # seconds, "12.340": the sentence's audible clip in the sync map
    end: str | None
    unread: bool = False                     # in a narrated part, but not in the narration (skipped)
    words: str | None = None                 # "b1 e1 b2 e2 …" (seconds, 2 decimals): each word's span, when timed


@dataclass(frozen=True)
class BlockView:
    kind: str                                # paragraph | quote | list | subheading
    items: tuple[tuple[SentenceView, ...], ...]
    ordered: bool = False


@dataclass(frozen=True)
class SectionView:
    id: str
    heading: SentenceView | None             # None for the first section (its heading is the h1)
    blocks: tuple[BlockView, ...]
    is_reflection: bool
    sublevel: int                            # heading level of its sub-headings (no gaps after the h1)


@dataclass(frozen=True)
class ChapterView:
    """A section of a narrated part, for the listening bar's list: its title and where it begins."""
    title: str
    begin: str                               # seconds, "32.070"
    at: str                                  # "0:32", as the bar shows times


@dataclass(frozen=True)
class PartView:
    id: str
    number: int                              # 1-based position in reading order
    title: str
    subtitle: str
    narrated: bool
    duration: float | None
    duration_text: str
    duration_iso: str
    page: str                                # stories/ID.html, relative to the site root
    audio: str                               # audio/ID.mp3
    transcript: str                          # transcripts/ID.vtt
    chapters: tuple[ChapterView, ...] = ()   # the sync map's chapters (the listening bar's sections)


def format_duration(seconds: float) -> tuple[str, str]:
    """("6 minutes 11 seconds", "PT6M11S") for a duration in seconds."""
    total = int(round(seconds))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)

    def unit(n: int, name: str) -> str:
        return f"{n} {name}{'' if n == 1 else 's'}"

    words = [unit(n, name) for n, name in ((h, "hour"), (m, "minute"), (s, "second")) if n]
    iso = "PT" + "".join(f"{n}{u}" for n, u in ((h, "H"), (m, "M"), (s, "S")) if n)
    return (" ".join(words) or "0 seconds"), (iso if iso != "PT" else "PT0S")


def clock(seconds: float) -> str:
    """"4:12" or "1:02:03": a position as the listening bar shows it (whole seconds, rounded down)."""
    h, rest = divmod(int(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


Times = dict[str, tuple[float, float] | None]
Words = dict[str, tuple[tuple[float, float], ...]]   # sentence id -> its words' spans (begin, end)


def _times(part, sync_dir: Path):
    """Sentence id -> its audible clip (begin, end) from the part's sync map, checked against the text;
    None for a sentence the narrator did not read. Empty for a part that is not narrated. Also the
    part's duration, its chapters and its timed words (sentence id -> each word's begin and end)."""
    if not part.narrated:
        return {}, None, (), {}
    path = sync_dir / f"{part.id}.json"
    sync = read_syncmap(path)
    detail = mismatch(sync, [s.id for s in part.sentences()])
    if detail:
        raise InputError(Problem(display_path(path), 0, "E-WEB-001",
                                 f"sync map does not match {display_path(part.source)}: {detail} (re-run align)"))
    chapters = tuple(ChapterView(title=c.title, begin=f"{c.begin:.3f}", at=clock(c.begin)) for c in sync.chapters)
    words = {f.id: tuple((w.begin, w.end) for w in f.words) for f in sync.fragments if f.words}
    return ({f.id: clip for f, clip in zip(sync.fragments, audible_clips(sync))}, sync.duration, chapters, words)


def _word_times(text: str, spans: tuple[tuple[float, float], ...] | None) -> str | None:
    """The data-words attribute of a sentence whose rendered text is ``text``: each word's begin and end,
    2 decimals, when the sync map timed the words and they are this text's words (else None: the
    sentence is read along as a whole)."""
    if not spans or len(words_of(text)) != len(spans):
        return None
    return " ".join(f"{b:.2f} {e:.2f}" for b, e in spans)


def _sentence(s, times: Times, words: Words | None = None) -> SentenceView:
    t = times.get(s.id)
    runs = segments(s.text, s.strong)
    timed = (words or {}).get(s.id) if t else None
    return SentenceView(id=s.id, segments=runs,
                        begin=f"{t[0]:.3f}" if t else None, end=f"{t[1]:.3f}" if t else None,
                        unread=s.id in times and t is None,
                        words=_word_times("".join(text for text, _ in runs), timed))


def part_views(book, sync_dir: Path) -> tuple[list[PartView], dict[str, Times], dict[str, Words]]:
    """Every part's view, timings and timed words; the problems of every sync map are reported together."""
    views, timings, wordings, problems = [], {}, {}, []
    for n, part in enumerate(book.parts, 1):
        try:
            times, duration, chapters, words = _times(part, sync_dir)
        except InputError as e:
            problems.extend(e.problems)
            continue
        timings[part.id] = times
        wordings[part.id] = words
        text, iso = format_duration(duration) if duration is not None else ("", "")
        views.append(PartView(id=part.id, number=n, title=part.title, subtitle=part.subtitle,
                              narrated=part.narrated, duration=duration, duration_text=text, duration_iso=iso,
                              page=f"stories/{part.id}.html", audio=f"audio/{part.id}.mp3",
                              transcript=f"transcripts/{part.id}.vtt", chapters=chapters))
    if problems:
        raise InputError(problems)
    return views, timings, wordings


def story_sections(part, times: Times, words: Words | None = None) -> tuple[SectionView, ...]:
    out = []
    for i, sec in enumerate(part.sections):
        blocks = tuple(BlockView(kind=b.kind, ordered=b.ordered,
                                 items=tuple(tuple(_sentence(s, times, words) for s in item) for item in b.items))
                       for b in sec.blocks)
        out.append(SectionView(id=sec.id, heading=None if i == 0 else _sentence(sec.heading, times, words),
                               blocks=blocks, is_reflection=sec.is_reflection, sublevel=2 if i == 0 else 3))
    return tuple(out)


# ---------------------------------------------------------------------------- rendering


def environment():
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,                     # every template, whatever its name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )
    return env


def _common(book, root: str) -> dict:
    return {"book": book, "csp": CSP, "root": root, "lang": book.language,
            "static": f"{root}static/", "authors": join_names(book.authors)}


@dataclass(frozen=True)
class AudiobookView:
    href: str          # the M4B's file name at the site root
    length: str        # "2 h 16 min"
    size: str          # "62 MB"


def read_audiobook(path: Path) -> AudiobookView:
    """The download facts the audiobook stage wrote (``build/m4b/download.json``)."""
    import json

    shown = display_path(path)
    try:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
        view = AudiobookView(href=str(d["href"]), length=str(d["length"]), size=str(d["size"]))
    except FileNotFoundError:
        raise InputError(Problem(shown, 0, "E-WEB-003", "the audiobook's download facts are missing (run make)")) from None
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(Problem(shown, 0, "E-WEB-003", f"not the audiobook's download facts: {e}")) from None
    if "/" in view.href or not view.href.endswith(".m4b"):
        raise InputError(Problem(shown, 0, "E-WEB-003", f"the audiobook must be an .m4b at the site root, got {view.href!r}"))
    return view


def render_index(book, parts: list[PartView], env=None, audiobook: AudiobookView | None = None) -> str:
    env = env or environment()
    return env.get_template("web-index.html").render(
        **_common(book, ""), parts=parts, epub=f"{book.id}.epub", feed="podcast.xml", audiobook=audiobook)


def render_story(book, parts: list[PartView], index: int, times: Times, env=None,
                 words: Words | None = None) -> str:
    env = env or environment()
    part = book.parts[index]
    view = parts[index]
    return env.get_template("web-story.html").render(
        **_common(book, "../"), part=view, total=len(parts),
        total_time=clock(round(view.duration)) if view.duration is not None else "",
        title=_sentence(part.sections[0].heading, times, words),
        subtitle=_sentence(part.subtitle_sentence, times, words) if part.subtitle_sentence else None,
        sections=story_sections(part, times, words),
        prev=parts[index - 1] if index > 0 else None,
        next=parts[index + 1] if index + 1 < len(parts) else None)


def build_site(texts: Path, sync_dir: Path, site: Path, index: Path, audiobook: Path | None = None) -> list[Path]:
    """Write the index, one page per part and the static files; return the paths written. With
    ``audiobook`` (the M4B's download facts), the index offers the audiobook."""
    book = load_book(texts)
    m4b = read_audiobook(audiobook) if audiobook is not None else None
    site, index = Path(site), Path(index)
    if index.resolve().parent != site.resolve():
        raise InputError(Problem(display_path(index), 0, "E-WEB-002",
                                 f"the index must be written at the site root ({display_path(site)}/index.html)"))
    parts, timings, wordings = part_views(book, Path(sync_dir))
    env = environment()
    written: list[Path] = []
    for i, part in enumerate(book.parts):
        path = site / "stories" / f"{part.id}.html"
        atomic_write_text(path, render_story(book, parts, i, timings[part.id], env, wordings[part.id]))
        written.append(path)
    for name in static_files():
        path = site / "static" / name
        atomic_write_bytes(path, (STATIC / name).read_bytes())
        written.append(path)
    atomic_write_text(index, render_index(book, parts, env, m4b))
    written.append(index)
    return written


def cmd_web(args: argparse.Namespace) -> int:
    written = build_site(args.texts, args.sync, args.site, args.output, args.audiobook)
    if getattr(args, "verbose", False):
        for p in written:
            print(os.fspath(p))
    return 0


def register(add) -> None:
    def setup(p: argparse.ArgumentParser) -> None:
        p.add_argument("texts", type=Path, help="the texts/ folder (book.toml and NN-ID.md parts)")
        p.add_argument("--sync", type=Path, required=True, help="folder of sync maps (build/sync/ID.json)")
        p.add_argument("--site", type=Path, required=True,
                       help="the site root (output/): stories/ID.html and static/ are written inside it")
        p.add_argument("-o", "--output", type=Path, required=True, help="the index page (SITE/index.html)")
        p.add_argument("--audiobook", type=Path, default=None,
                       help="the M4B's download facts (build/m4b/download.json): the index offers the audiobook")

    add("web", "write the large-print web edition (index, one page per part, stylesheet, read-along script)",
        setup, cmd_web)
