"""The accessible EPUB 3: XHTML per part, navigation with a page list, accessibility metadata, media overlays.

``python -m pipeline epub texts --sync build/sync --audio build/epub-audio --cover build/cover.png
-o output/BOOK.epub`` builds the book with ebooklib. Its checks (EPUBCheck, DAISY Ace and our own media
overlay checks, ``check-epub``) are in :mod:`pipeline.checks.epub`.

The layout inside the container (``EPUB/``):

    content.opf, nav.xhtml          package document; navigation (toc, landmarks, page-list)
    css/book.css                    reflowable, relative units, no fonts, the media overlay highlight
    images/cover.png                the cover image (alt text in cover.xhtml)
    cover.xhtml, titlepage.xhtml    front matter
    text/ID.xhtml                   one document per part; every sentence is <span id="SENTENCE_ID">
    smil/ID.smil                    one overlay per narrated part (a part with a sync map)
    audio/ID.mp3                    the EPUB narration (build/epub-audio/ID.mp3)

Every text, span id and time comes from the source model and the sync map; the accessibility metadata
is derived from what was built (which parts have overlays, which parts have print pages, whether the
images have alt text), never defaulted. The zip is re-packed by us (mimetype first and stored, the order
ebooklib wrote, timestamps from ``book.modified``), so an unchanged rebuild is byte-identical.
"""
from __future__ import annotations

import argparse
import datetime as dt
import re
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ebooklib import epub
from lxml import etree

from pipeline.model.contracts import SyncMap, audible_clips, mismatch, read_syncmap
from pipeline.model.problems import InputError, Problem, display_path
from pipeline.model.sources import Block, Book, Part, Sentence, load_book
from pipeline.stages.markup import join_names, segments
from pipeline.stages.syncmap import timestamp
from pipeline.system.fsutil import atomic_path
from pipeline.system.mp3 import mp3_duration

XHTML_NS = "http://www.w3.org/1999/xhtml"
EPUB_NS = "http://www.idpf.org/2007/ops"
XML_NS = "http://www.w3.org/XML/1998/namespace"
OPF_NS = "http://www.idpf.org/2007/opf"
SMIL_NS = "http://www.w3.org/ns/SMIL"

ACTIVE_CLASS = "-epub-media-overlay-active"
CONFORMS_TO = "EPUB Accessibility 1.1 - WCAG 2.2 Level AA"
# Who made the conformance claim: this pipeline's checks (pipeline.checks.epub: EPUBCheck, Ace, our
# overlay checks) gate it.
CERTIFIER = "Case Maker Press"
# A clip may end this far past the audio's measured length (MP3 frame padding) and is then clamped.
CLAMP_TOLERANCE = 0.25

CSS = f"""\
/* Reflowable: relative units only, no fonts, no fixed sizes; reading systems' settings win. */
body {{ margin: 0 auto; padding: 0 1em; }}
h1, h2, h3 {{ line-height: 1.25; font-weight: bold; page-break-after: avoid; break-after: avoid; hyphens: none; }}
h1 {{ font-size: 1.6em; margin: 1.5em 0 0.5em; }}
h2 {{ font-size: 1.3em; margin: 1.5em 0 0.5em; }}
h3 {{ font-size: 1.1em; margin: 1.25em 0 0.5em; }}
p {{ margin: 0 0 0.75em; }}
.subtitle {{ font-size: 1.15em; font-style: italic; margin: 0 0 1.5em; }}
blockquote {{ margin: 1.25em 1.5em; padding-left: 0.75em; border-left: 0.2em solid currentColor; }}
ul, ol {{ margin: 0 0 1em 1.5em; padding: 0; }}
li {{ margin-bottom: 0.4em; }}
section.reflection {{ margin-top: 2em; }}
.titlepage {{ text-align: center; margin-top: 3em; }}
.titlepage .authors {{ margin-top: 2em; font-size: 1.1em; }}
.titlepage .publisher, .titlepage .narrator {{ margin-top: 1em; }}
.titlepage .rights {{ margin-top: 3em; font-size: 0.85em; }}
.cover {{ text-align: center; margin: 0; padding: 0; }}
.cover img {{ max-width: 100%; max-height: 95vh; height: auto; }}
nav ol {{ list-style-type: none; margin-left: 0; }}
nav ol ol {{ margin-left: 1.5em; }}
/* media:active-class: the sentence being read aloud */
.{ACTIVE_CLASS} {{ background-color: #fff3b0; color: #000; }}
.{ACTIVE_CLASS} {{ background-color: Highlight; color: HighlightText; }}
"""


# ---------------------------------------------------------------------------- overlays (the timeline)


@dataclass(frozen=True)
class Clip:
    """A sentence's stretch of the EPUB audio: its audible clip from the sync map (``audible_clips``), or
    no time at all (``begin`` and ``end`` None) for a sentence the narrator did not read."""
    id: str
    begin: float | None
    end: float | None

    @property
    def audible(self) -> bool:
        return self.begin is not None


@dataclass(frozen=True)
class Overlay:
    """A narrated part's overlay: one clip per sentence of the part, in the EPUB audio. Clips are in
    order and never overlap; there are gaps where the narration has speech that is not the text
    (unscripted speech, false starts), which no clip plays."""
    part: str
    audio: Path
    audio_duration: float
    clips: tuple[Clip, ...]

    @property
    def duration(self) -> float:
        """What a reading system plays: the sum of the audible clips (media:duration)."""
        return round(sum(c.end - c.begin for c in self.clips if c.begin is not None and c.end is not None), 3)

    @property
    def unread(self) -> int:
        """Sentences with no narration (text-only pars)."""
        return sum(1 for c in self.clips if not c.audible)


def load_overlays(book: Book, sync_dir: Path | None, audio_dir: Path | None) -> dict[str, Overlay]:
    """The overlays of the parts that have a sync map; every mismatch with the text is an InputError."""
    overlays: dict[str, Overlay] = {}
    problems: list[Problem] = []
    if sync_dir is None:
        return overlays
    for part in book.parts:
        sync_path = Path(sync_dir) / f"{part.id}.json"
        if not part.narrated or not sync_path.exists():
            continue
        try:
            sync = read_syncmap(sync_path)
        except InputError as e:
            problems.extend(e.problems)
            continue
        shown = display_path(sync_path)
        audio = Path(audio_dir) / f"{part.id}.mp3" if audio_dir else None
        if audio is None or not audio.is_file():
            problems.append(Problem(shown, 0, "E-EPUB-001",
                                    f"part '{part.id}' has a sync map but no EPUB audio "
                                    f"({display_path(audio) if audio else '--audio not given'})"))
            continue
        try:
            length = mp3_duration(audio)
        except Exception as e:  # mutagen raises several types for a broken file
            problems.append(Problem(display_path(audio), 0, "E-EPUB-001", f"unreadable MP3: {e}"))
            continue
        clips = _clips(part, sync, length, shown, problems)
        if clips:
            overlays[part.id] = Overlay(part.id, audio, length, tuple(clips))
    if problems:
        raise InputError(problems)
    return overlays


def _clips(part: Part, sync: SyncMap, length: float, shown: str, problems: list[Problem]) -> list[Clip]:
    detail = mismatch(sync, [s.id for s in part.sentences()])
    if detail:
        problems.append(Problem(shown, 0, "E-EPUB-002",
                                f"sync map does not match the text of '{part.id}' ({detail}): run the align stage"))
        return []
    clips = []
    for f, audible in zip(sync.fragments, audible_clips(sync)):
        if f.end - length > CLAMP_TOLERANCE:
            problems.append(Problem(shown, 0, "E-EPUB-003",
                                    f"fragment {f.id} ends at {f.end:.3f} s, after the EPUB audio "
                                    f"({length:.3f} s): rebuild the audio"))
            return []
        if audible is None:          # not read: a text-only par, nothing to play or highlight
            clips.append(Clip(f.id, None, None))
            continue
        begin, end = round(audible[0], 3), round(audible[1], 3)
        if end > length:
            end = _floor_ms(length)
        if end <= begin:
            problems.append(Problem(shown, 0, "E-EPUB-004", f"fragment {f.id} has no duration ({begin}–{end})"))
            return []
        clips.append(Clip(f.id, begin, end))
    return clips


def _floor_ms(x: float) -> float:
    return int(x * 1000) / 1000


def clip_time(t: float) -> str:
    """A SMIL timecount clock value: ``12.345s``."""
    return f"{t:.3f}s"


def clock(t: float) -> str:
    """A SMIL full clock value for media:duration: ``H:MM:SS.fff``."""
    return timestamp(t, hour_digits=1)



# ---------------------------------------------------------------------------- XHTML


def _x(tag: str) -> str:
    return f"{{{XHTML_NS}}}{tag}"


EPUB_TYPE = f"{{{EPUB_NS}}}type"


def _el(parent: etree._Element | None, tag: str, text: str | None = None, **attrs: str | None) -> etree._Element:
    """An element (a child of ``parent``, if any) with the attributes not None: ``class_`` is ``class``,
    ``epub_type`` is ``epub:type``, other underscores are hyphens (``aria_label``)."""
    present = {("class" if k == "class_" else EPUB_TYPE if k == "epub_type" else k.replace("_", "-")): v
               for k, v in attrs.items() if v is not None}
    e = etree.Element(_x(tag), present) if parent is None else etree.SubElement(parent, _x(tag), present)
    if text is not None:
        e.text = text
    return e


def _document(lang: str, title: str, css_href: str) -> tuple[etree._Element, etree._Element]:
    html = etree.Element(_x("html"), nsmap={None: XHTML_NS, "epub": EPUB_NS})
    html.set("lang", lang)
    html.set(f"{{{XML_NS}}}lang", lang)
    head = _el(html, "head")
    _el(head, "meta", charset="utf-8")
    _el(head, "title", title)
    _el(head, "link", rel="stylesheet", type="text/css", href=css_href)
    body = _el(html, "body")
    return html, body


def _serialise(html: etree._Element) -> bytes:
    return etree.tostring(html, xml_declaration=True, encoding="utf-8", pretty_print=True,
                          doctype="<!DOCTYPE html>")


def _sentence(parent: etree._Element, s: Sentence) -> etree._Element:
    """``<span id="SENTENCE_ID">`` with the emphasised ranges as <strong>."""
    if parent.text is None and len(parent) == 0:
        parent.text = ""  # mixed content: keeps the pretty printer from adding whitespace around the span
    span = _el(parent, "span", id=s.id)
    last: etree._Element | None = None
    for run, emphasised in segments(s.text, s.strong):
        if emphasised:
            last = _el(span, "strong", run)
        elif last is None:
            span.text = (span.text or "") + run
        else:
            last.tail = (last.tail or "") + run
    return span


def _sentences(parent: etree._Element, sentences: Iterable[Sentence]) -> None:
    prev = None
    for s in sentences:
        if prev is not None:
            prev.tail = " "
        prev = _sentence(parent, s)


def part_kind(part: Part) -> tuple[str, str]:
    """(epub:type, DPUB-ARIA role) for a part: introduction, conclusion or chapter."""
    key = f"{part.id} {part.title}".lower()
    if re.search(r"\b(introduction|foreword|preface)\b", key):
        return "introduction", "doc-introduction"
    if re.search(r"\b(summary|conclusion|afterword)\b", key):
        return "conclusion", "doc-conclusion"
    return "chapter", "doc-chapter"


def page_id(part: Part) -> str:
    return f"{part.id}-page-{part.print_page}"


def part_xhtml(book: Book, part: Part) -> bytes:
    html, body = _document(book.language, part.title, "../css/book.css")
    first = part.sections[0]
    kind, role = part_kind(part)
    outer = _el(body, "section", id=first.id, epub_type=kind, role=role, aria_labelledby=f"{first.id}-title")
    if part.print_page is not None:
        _el(outer, "span", id=page_id(part), epub_type="pagebreak", role="doc-pagebreak",
            aria_label=str(part.print_page))
    _sentence(_el(outer, "h1", id=f"{first.id}-title"), first.heading)
    if part.subtitle_sentence is not None:
        _sentence(_el(outer, "p", class_="subtitle", epub_type="subtitle", role="doc-subtitle"),
                  part.subtitle_sentence)
    _blocks(outer, first.blocks, sub_level=2)
    for sec in part.sections[1:]:
        el = _el(outer, "section", id=sec.id, class_="reflection" if sec.is_reflection else None,
                 aria_labelledby=f"{sec.id}-title")
        _sentence(_el(el, "h2", id=f"{sec.id}-title"), sec.heading)
        _blocks(el, sec.blocks, sub_level=3)
    return _serialise(html)


def _blocks(parent: etree._Element, blocks: Iterable[Block], sub_level: int) -> None:
    for b in blocks:
        if b.kind == "paragraph":
            _sentences(_el(parent, "p"), b.sentences)
        elif b.kind == "quote":
            _sentences(_el(_el(parent, "blockquote"), "p"), b.sentences)
        elif b.kind == "subheading":
            _sentences(_el(parent, f"h{sub_level}"), b.sentences)
        elif b.kind == "list":
            lst = _el(parent, "ol" if b.ordered else "ul")
            for item in b.items:
                _sentences(_el(lst, "li"), item)
        else:  # a new kind in the model must be rendered deliberately
            raise ValueError(f"unknown block kind {b.kind!r}")


def cover_alt(book: Book) -> str:
    sub = f": {book.subtitle}" if book.subtitle else ""
    return f"Cover of {book.title}{sub}. By {join_names(book.authors)}. {book.publisher}."


def cover_xhtml(book: Book, image_href: str) -> bytes:
    html, body = _document(book.language, "Cover", "css/book.css")
    div = _el(body, "div", class_="cover")
    _el(div, "img", src=image_href, alt=cover_alt(book), epub_type="cover", role="doc-cover")
    return _serialise(html)


def titlepage_xhtml(book: Book, narrated: bool) -> bytes:
    html, body = _document(book.language, book.title, "css/book.css")
    sec = _el(body, "section", id="titlepage", class_="titlepage", epub_type="titlepage",
              aria_labelledby="book-title")
    _el(sec, "h1", book.title, id="book-title")
    if book.subtitle:
        _el(sec, "p", book.subtitle, class_="subtitle", epub_type="subtitle", role="doc-subtitle")
    _el(sec, "p", join_names(book.authors), class_="authors")
    _el(sec, "p", book.publisher, class_="publisher")
    if narrated:
        _el(sec, "p", f"Narrated by {book.narrator}", class_="narrator")
    if book.rights:
        _el(sec, "p", book.rights, class_="rights")
    return _serialise(html)


def nav_xhtml(book: Book, has_cover: bool) -> bytes:
    html, body = _document(book.language, "Contents", "css/book.css")
    toc = _el(body, "nav", id="toc", epub_type="toc", role="doc-toc", aria_labelledby="toc-title")
    _el(toc, "h1", "Contents", id="toc-title")
    ol = _el(toc, "ol")
    for part in book.parts:
        li = _el(ol, "li")
        _el(li, "a", part.title, href=f"text/{part.id}.xhtml")
        if len(part.sections) > 1:
            sub = _el(li, "ol")
            for sec in part.sections[1:]:
                _el(_el(sub, "li"), "a", sec.title, href=f"text/{part.id}.xhtml#{sec.id}")

    marks = _el(body, "nav", id="landmarks", epub_type="landmarks", aria_labelledby="landmarks-title",
                hidden="hidden")
    _el(marks, "h2", "Landmarks", id="landmarks-title")
    ol = _el(marks, "ol")
    if has_cover:
        _el(_el(ol, "li"), "a", "Cover", href="cover.xhtml", epub_type="cover")
    _el(_el(ol, "li"), "a", "Title page", href="titlepage.xhtml", epub_type="titlepage")
    _el(_el(ol, "li"), "a", "Contents", href="nav.xhtml#toc", epub_type="toc")
    _el(_el(ol, "li"), "a", "Start of content", href=f"text/{book.parts[0].id}.xhtml", epub_type="bodymatter")

    paged = [p for p in book.parts if p.print_page is not None]
    if paged:
        pages = _el(body, "nav", id="page-list", epub_type="page-list", role="doc-pagelist",
                    aria_labelledby="page-list-title", hidden="hidden")
        _el(pages, "h2", "Pages", id="page-list-title")
        ol = _el(pages, "ol")
        for p in sorted(paged, key=lambda p: (p.print_page, p.order)):
            _el(_el(ol, "li"), "a", str(p.print_page), href=f"text/{p.id}.xhtml#{page_id(p)}")
    return _serialise(html)


# ---------------------------------------------------------------------------- SMIL


def smil(part: Part, overlay: Overlay) -> bytes:
    """One <par> per sentence and heading, grouped in one <seq> per section. A par's audio is the
    sentence's audible clip, so unscripted speech and false starts lie in no clip (a reading system skips
    them and highlights nothing meanwhile); a sentence the narrator did not read has a par with its
    <text> only (Media Overlays 3.x: a par holds one text and at most one audio), which keeps it in the
    overlay's reading order without claiming a time."""
    root = etree.Element(f"{{{SMIL_NS}}}smil", nsmap={None: SMIL_NS, "epub": EPUB_NS}, version="3.0")
    text = f"../text/{part.id}.xhtml"
    audio = f"../audio/{part.id}.mp3"
    body = etree.SubElement(root, f"{{{SMIL_NS}}}body", {f"{{{EPUB_NS}}}textref": text})
    clips = {c.id: c for c in overlay.clips}
    first = part.sections[0]
    kind, _ = part_kind(part)
    for i, sec in enumerate(part.sections):
        seq = etree.SubElement(body, f"{{{SMIL_NS}}}seq", {
            "id": f"seq-{sec.id}", f"{{{EPUB_NS}}}textref": f"{text}#{sec.id}",
            f"{{{EPUB_NS}}}type": kind if sec is first else "subchapter"})
        sentences = [sec.heading]
        if i == 0 and part.subtitle_sentence is not None:
            sentences.append(part.subtitle_sentence)
        sentences.extend(sec.sentences(include_heading=False))
        for s in sentences:
            c = clips[s.id]
            par = etree.SubElement(seq, f"{{{SMIL_NS}}}par", {"id": f"par-{s.id}"})
            etree.SubElement(par, f"{{{SMIL_NS}}}text", {"src": f"{text}#{s.id}"})
            if c.begin is not None and c.end is not None:      # audible
                etree.SubElement(par, f"{{{SMIL_NS}}}audio", {"src": audio, "clipBegin": clip_time(c.begin),
                                                              "clipEnd": clip_time(c.end)})
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)


# ---------------------------------------------------------------------------- accessibility metadata


@dataclass(frozen=True)
class Facts:
    """What the built book offers, from which every accessibility statement is derived."""
    parts: int
    sections: int
    narrated: tuple[str, ...]           # part ids with an overlay
    text_only: tuple[str, ...]          # part titles without one
    paged: int                          # parts with a print page marker
    has_cover: bool
    cover_alt: bool
    quotes: bool = False                # any pull quote (blockquote)
    lists: bool = False
    reflections: int = 0                # parts with a "Questions for reflection" section
    front_matter_narrated: bool = False  # the cover and title page have no narration
    unread: int = 0                     # sentences of narrated parts that the narrator did not read

    @property
    def overlays(self) -> bool:
        return bool(self.narrated)

    @property
    def all_text_narrated(self) -> bool:
        return not self.text_only and self.front_matter_narrated and not self.unread


def a11y_metadata(book: Book, f: Facts) -> list[tuple[str, str]]:
    # the cover is the only image and repeats the title page (DAISY KB: cover artwork does not make a
    # publication "visual"); any other image would have to be described and counted here
    modes = ["textual"] + (["auditory"] if f.overlays else [])
    sufficient = ["textual"] + (["textual,auditory"] if f.overlays else []) + (
        ["auditory"] if f.all_text_narrated else [])
    features = ["structuralNavigation", "tableOfContents", "readingOrder", "displayTransformability", "ARIA"]
    if f.overlays:
        features.append("synchronizedAudioText")
    if f.paged:
        features += ["pageBreakMarkers", "pageNavigation"]
    if f.has_cover and f.cover_alt:
        features.append("alternativeText")
    meta = [("schema:accessMode", m) for m in modes]
    meta += [("schema:accessModeSufficient", m) for m in sufficient]
    meta += [("schema:accessibilityFeature", x) for x in features]
    meta += [("schema:accessibilityHazard", "none"), ("schema:accessibilitySummary", a11y_summary(book, f))]
    if f.paged:
        meta.append(("pageBreakSource", f"urn:isbn:{book.isbn}" if book.isbn else book.identifier))
    return meta


def a11y_summary(book: Book, f: Facts) -> str:
    structure = ["headings follow a logical hierarchy"]
    if f.quotes:
        structure.append("pull quotes are block quotations")
    if f.lists:
        structure.append("lists are marked up as lists")
    if f.reflections:
        structure.append("the questions for reflection are a section of their own"
                         + (f" in each of the {f.reflections} stories" if f.reflections > 1 else ""))
    out = [f"This EPUB 3 edition meets {CONFORMS_TO}, checked with EPUBCheck and DAISY Ace.",
           f"A nested table of contents lists its {f.parts} parts and their {f.sections} sections; "
           + join_names(structure) + ".",
           "The text reflows and follows the reader's choice of font, size, spacing and colours."]
    if f.overlays:
        who = f", read by {book.narrator}" if book.narrator else ""
        if not f.text_only:
            out.append(f"Every part has synchronised narration (media overlays){who}: each sentence and heading "
                       "is highlighted as it is read.")
        else:
            out.append(f"{len(f.narrated)} of the {f.parts} parts have synchronised narration (media overlays){who}: "
                       "each sentence and heading is highlighted as it is read. "
                       f"Text only, without narration: {join_names(f.text_only)}.")
        if f.unread:
            out.append(f"{f.unread} {'sentence is' if f.unread == 1 else 'sentences are'} not in the narration "
                       "and so never highlighted.")
        if not f.front_matter_narrated:
            out.append("The cover, title page and contents are not narrated.")
    else:
        out.append("There is no narration: the book is text only.")
    if f.has_cover:
        out.append("The only image is the cover, which has a text description."
                   if f.cover_alt else "The cover image has no text description.")
    if f.paged:
        out.append(f"Page numbers of the print edition mark the start of {f.paged} of the {f.parts} parts only, "
                   "so the page list is partial.")
    out.append("There are no flashing, motion or sound hazards.")
    return " ".join(out)


# ---------------------------------------------------------------------------- the book


class PrebuiltHtml(epub.EpubHtml):
    """An XHTML document whose bytes we build (ebooklib would re-parse it with an HTML parser)."""

    def get_content(self, default=None):
        return self.content


def build_epub(book: Book, overlays: dict[str, Overlay], cover: Path | None, output: Path) -> Facts:
    """Write the EPUB to ``output`` (atomically); return the facts its metadata was derived from."""
    modified = book.modified.astimezone(dt.UTC)
    cover = cover if cover is not None else book.cover
    cover_ext = cover.suffix.lower() if cover else ""
    if cover is not None and cover_ext not in (".png", ".jpg", ".jpeg"):
        raise InputError(Problem(display_path(cover), 0, "E-EPUB-005", "cover must be a PNG or JPEG image"))
    if cover is not None and not cover.is_file():
        raise InputError(Problem(display_path(cover), 0, "E-EPUB-005", "cover image not found"))

    facts = Facts(
        parts=len(book.parts),
        sections=sum(len(p.sections) - 1 for p in book.parts),
        narrated=tuple(p.id for p in book.parts if p.id in overlays),
        text_only=tuple(p.title for p in book.parts if p.id not in overlays),
        paged=sum(1 for p in book.parts if p.print_page is not None),
        has_cover=cover is not None,
        cover_alt=cover is not None and bool(cover_alt(book).strip()),
        quotes=any(b.kind == "quote" for p in book.parts for sec in p.sections for b in sec.blocks),
        lists=any(b.kind == "list" for p in book.parts for sec in p.sections for b in sec.blocks),
        reflections=sum(1 for p in book.parts if any(sec.is_reflection for sec in p.sections)),
        unread=sum(o.unread for o in overlays.values()),
    )

    eb = epub.EpubBook()
    eb.IDENTIFIER_ID = "pub-id"
    eb.set_identifier(book.identifier)
    eb.add_metadata("DC", "title", book.title, {"id": "title"})
    eb.add_metadata(None, "meta", "main", {"refines": "#title", "property": "title-type"})
    if book.subtitle:
        eb.add_metadata("DC", "title", book.subtitle, {"id": "subtitle"})
        eb.add_metadata(None, "meta", "subtitle", {"refines": "#subtitle", "property": "title-type"})
    eb.title = book.title
    eb.set_language(book.language)
    for i, author in enumerate(book.authors, 1):
        eb.add_author(author, role="aut", uid=f"creator{i}")
    if overlays and book.narrator:
        eb.add_metadata("DC", "contributor", book.narrator, {"id": "narrator"})
        eb.add_metadata(None, "meta", "nrt", {"refines": "#narrator", "property": "role",
                                              "scheme": "marc:relators"})
    eb.add_metadata("DC", "publisher", book.publisher)
    eb.add_metadata("DC", "date", book.published.isoformat())
    eb.add_metadata("DC", "description", book.description)
    if book.rights:
        eb.add_metadata("DC", "rights", book.rights)
    if facts.paged:
        eb.add_metadata("DC", "source", f"urn:isbn:{book.isbn}" if book.isbn else book.identifier)
    for prop, value in a11y_metadata(book, facts):
        eb.add_metadata(None, "meta", value, {"property": prop})
    eb.add_metadata(None, "meta", CONFORMS_TO, {"property": "dcterms:conformsTo", "id": "conformance"})
    eb.add_metadata(None, "meta", CERTIFIER, {"property": "a11y:certifiedBy", "refines": "#conformance"})
    if overlays:
        total = round(sum(o.duration for o in overlays.values()), 3)
        eb.add_metadata(None, "meta", clock(total), {"property": "media:duration"})
        for pid in facts.narrated:
            eb.add_metadata(None, "meta", clock(overlays[pid].duration),
                            {"property": "media:duration", "refines": f"#smil-{pid}"})
        if book.narrator:
            eb.add_metadata(None, "meta", book.narrator, {"property": "media:narrator"})
        eb.add_metadata(None, "meta", ACTIVE_CLASS, {"property": "media:active-class"})

    css = epub.EpubItem(uid="css", file_name="css/book.css", media_type="text/css", content=CSS.encode())
    eb.add_item(css)
    spine = []
    if cover is not None:
        image_name = f"images/cover{'.png' if cover_ext == '.png' else '.jpg'}"
        eb.set_cover(image_name, cover.read_bytes(), create_page=False)
        doc = PrebuiltHtml(uid="cover", file_name="cover.xhtml", title="Cover",
                           content=cover_xhtml(book, image_name))
        eb.add_item(doc)
        spine.append(doc)
    doc = PrebuiltHtml(uid="titlepage", file_name="titlepage.xhtml", title=book.title,
                       content=titlepage_xhtml(book, bool(overlays)))
    eb.add_item(doc)
    spine.append(doc)
    nav = PrebuiltHtml(uid="nav", file_name="nav.xhtml", title="Contents", content=nav_xhtml(book, cover is not None))
    nav.properties = ["nav"]
    eb.add_item(nav)
    spine.append(nav)
    for part in book.parts:
        ov = overlays.get(part.id)
        doc = PrebuiltHtml(uid=f"x-{part.id}", file_name=f"text/{part.id}.xhtml", title=part.title,
                           content=part_xhtml(book, part), media_overlay=f"smil-{part.id}" if ov else None)
        eb.add_item(doc)
        spine.append(doc)
    # the audio goes into the package at the repack, streamed from disk and stored (ebooklib would hold
    # it all in memory and deflate it for nothing: MP3 does not compress)
    audio_files: dict[str, Path] = {}
    for part in book.parts:
        ov = overlays.get(part.id)
        if ov is None:
            continue
        eb.add_item(epub.EpubSMIL(uid=f"smil-{part.id}", file_name=f"smil/{part.id}.smil", content=smil(part, ov)))
        eb.add_item(epub.EpubItem(uid=f"audio-{part.id}", file_name=f"audio/{part.id}.mp3", media_type="audio/mpeg",
                                  content=b""))
        audio_files[f"EPUB/audio/{part.id}.mp3"] = ov.audio
    eb.spine = spine

    options = {"raise_exceptions": True, "mtime": modified, "epub2_guide": False, "epub3_landmark": False,
               "epub3_pages": False, "compresslevel": 9}
    with tempfile.TemporaryDirectory(prefix="epub-") as tmp:
        raw = Path(tmp) / "raw.epub"
        epub.write_epub(str(raw), eb, options)
        with atomic_path(output) as final:
            repack(raw, final, book.language, modified, audio_files)
    return facts


def _fix_opf(data: bytes, language: str) -> bytes:
    """What ebooklib 0.20 cannot write: xml:lang on <package>; no NCX reference when there is no NCX; no
    re-declaration of the reserved 'rendition' prefix."""
    root = etree.fromstring(data)
    root.set(f"{{{XML_NS}}}lang", language)
    if root.get("prefix", "").strip() == "rendition: http://www.idpf.org/vocab/rendition/#":
        del root.attrib["prefix"]
    spine = root.find(f"{{{OPF_NS}}}spine")
    manifest_ids = {i.get("id") for i in root.iter(f"{{{OPF_NS}}}item")}
    if spine is not None and spine.get("toc") not in manifest_ids:
        del spine.attrib["toc"]
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)


STORED_SUFFIXES = (".mp3", ".png", ".jpg", ".jpeg")


def repack(src: Path, dst: Path, language: str, modified: dt.datetime, files: dict[str, Path] | None = None) -> None:
    """Re-pack ebooklib's zip: mimetype first and stored, then container and package, then the rest in the
    order written; every entry with the same timestamp and attributes, so the bytes depend on content only.
    Entries named in ``files`` take that file's bytes, streamed (the audio)."""
    files = files or {}
    stamp = (max(modified.year, 1980), modified.month, modified.day, modified.hour, modified.minute,
             modified.second - modified.second % 2)
    with zipfile.ZipFile(src) as zin:
        names = [n for n in zin.namelist() if n != "mimetype"]
        opf = next(n for n in names if n.endswith(".opf"))
        first = ["META-INF/container.xml", opf]
        order = ["mimetype"] + first + [n for n in names if n not in first]
        with zipfile.ZipFile(dst, "w") as zout:
            for name in order:
                info = zipfile.ZipInfo(name, date_time=stamp)
                info.create_system = 3
                info.external_attr = 0o644 << 16
                stored = name == "mimetype" or name.lower().endswith(STORED_SUFFIXES)
                info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
                if name in files:
                    info.file_size = files[name].stat().st_size
                    with open(files[name], "rb") as fin, zout.open(info, "w") as fout:
                        shutil.copyfileobj(fin, fout, 1 << 20)
                    continue
                data = b"application/epub+zip" if name == "mimetype" else zin.read(name)
                if name == opf:
                    data = _fix_opf(data, language)
                zout.writestr(info, data, compresslevel=None if stored else 9)


# ---------------------------------------------------------------------------- stages


def cmd_epub(args: argparse.Namespace) -> int:
    book = load_book(args.texts)
    overlays = load_overlays(book, args.sync, args.audio)
    if args.sync is not None:
        unsynced = [p.id for p in book.narrated_parts if p.id not in overlays]
        if unsynced:
            print(f"note: no sync map in {display_path(args.sync)} for {', '.join(unsynced)}: text only, "
                  "no media overlay", file=sys.stderr)
    facts = build_epub(book, overlays, args.cover, args.output)
    total = sum(o.duration for o in overlays.values())
    audio = f" ({clock(total)})" if overlays else ""
    print(f"{display_path(args.output)}: {facts.parts} parts, {len(overlays)} with media overlays{audio}, "
          f"{facts.paged} print page markers")
    return 0



def register(add) -> None:
    def setup_epub(p: argparse.ArgumentParser) -> None:
        p.add_argument("texts", type=Path, help="the texts/ folder (book.toml and NN-ID.md parts)")
        p.add_argument("--sync", type=Path, default=None,
                       help="folder of sync maps (ID.json); a part without one is text only")
        p.add_argument("--audio", type=Path, default=None, help="folder of EPUB audio (ID.mp3)")
        p.add_argument("--cover", type=Path, default=None, help="cover image (default: from book.toml)")
        p.add_argument("-o", "--output", type=Path, required=True, help="the EPUB to write")

    add("epub", "build the accessible EPUB 3 with media overlays", setup_epub, cmd_epub)
