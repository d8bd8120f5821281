"""The podcast feed: ``output/podcast.xml`` from the book and the built site.

Built with feedgen: its iTunes extension (subclassed only to write ``itunes:explicit`` as Apple's current
``true``/``false``), a Podcasting 2.0 extension of our own (namespace
``https://podcastindex.org/namespace/1.0``: ``podcast:guid``, ``locked``, ``person``, ``license`` on the
channel; ``chapters`` and ``transcript`` on each episode) and Podlove Simple Chapters inline (gPodder's
parser reads those, not JSON chapters).

Every narrated part is an episode. Its GUID comes from the book id and part id only, so editing a title,
a text or a date never makes apps see a new episode. Every measured value comes from the files in the
site folder (enclosure length, MP3 duration through mutagen), every timestamp from the front matter
(``published`` at a fixed time of day, UTC): rebuilding unchanged sources gives the same bytes.

The rules a published feed must keep (``check-feed``) are in :mod:`pipeline.checks.feed`.
"""
from __future__ import annotations

import argparse
import datetime as dt
import html
import re
import uuid
from pathlib import Path

import lxml.etree as etree  # first: feedgen.util (below) uses lxml.etree without importing it
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.ext.podcast import PodcastExtension
from feedgen.ext.podcast_entry import PodcastEntryExtension
from feedgen.feed import FeedGenerator
from feedgen.util import xml_elem
from markdown_it import MarkdownIt

from pipeline.model.contracts import read_podcast_chapters
from pipeline.model.problems import InputError, Problem, display_path
from pipeline.model.sources import load_book
from pipeline.stages.markup import sentence_html
from pipeline.stages.syncmap import timestamp
from pipeline.system.fsutil import atomic_write_bytes
from pipeline.system.mp3 import mp3_duration

PODCAST_NS = "https://podcastindex.org/namespace/1.0"
ITUNES_NS = "http://www.itunes.com/dtds/podcast-1.0.dtd"
ATOM_NS = "http://www.w3.org/2005/Atom"
PSC_NS = "http://podlove.org/simple-chapters"

FEED_NAME = "podcast.xml"
COVER_NAME = "cover.png"
#: the namespace of podcast:guid, fixed by the Podcasting 2.0 specification
PODCAST_GUID_NAMESPACE = uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6")
#: our namespace for episode GUIDs: uuid5(this, "BOOK-ID/PART-ID"); never change it (GUIDs would change)
EPISODE_GUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:case-maker-press:episode")
#: every episode is published at this time of day (UTC) on its front-matter date
PUBLISH_TIME = dt.time(9, 0, tzinfo=dt.UTC)
GENERATOR = "Case Maker Press"
MAX_DESCRIPTION_BYTES = 4000          # Apple: channel description at most 4000 bytes (we hold episodes to it too)
SUMMARY_CHARS = 200                   # a summary takes first-paragraph sentences until it is this long...
SUMMARY_SENTENCES = 3                 # ...or has this many


# ---------------------------------------------------------------------------- identifiers and URLs


def feed_url(book) -> str:
    return book.podcast.base_url + FEED_NAME


def podcast_guid(url: str) -> str:
    """podcast:guid per the namespace: UUIDv5 of the feed URL without its scheme and trailing slashes."""
    bare = re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*://", "", url.strip()).rstrip("/")
    return str(uuid.uuid5(PODCAST_GUID_NAMESPACE, bare))


def episode_guid(book, part) -> str:
    """The episode's GUID: from the book id and the part id only (never title, date or URL)."""
    return str(uuid.uuid5(EPISODE_GUID_NAMESPACE, f"{book.id}/{part.id}"))


def audio_path(site: Path, part) -> Path:
    return site / "audio" / f"{part.id}.mp3"


def chapters_path(site: Path, part) -> Path:
    return site / "chapters" / f"{part.id}.json"


def transcript_path(site: Path, part) -> Path:
    return site / "transcripts" / f"{part.id}.vtt"


def published_at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, PUBLISH_TIME)


def whole_seconds(seconds: float) -> int:
    return int(round(seconds))


# ---------------------------------------------------------------------------- safe text and HTML


def _squash(text: str) -> str:
    return " ".join(text.split())


def _sentence_html(sentence) -> str:
    """A sentence as escaped HTML, its emphasised ranges in <strong>, white space folded."""
    return _squash(sentence_html(sentence.text, sentence.strong))


def _sentences_html(sentences) -> str:
    return " ".join(_sentence_html(s) for s in sentences)


def markdown_html(text: str) -> str:
    """Markdown to a safe HTML subset: paragraphs, emphasis, lists, code and line breaks. Raw HTML, links
    and images are never passed through: their text is escaped."""
    md = MarkdownIt("zero", {"html": False}).enable(["emphasis", "list", "backticks", "newline"])
    return md.render(text).strip()


def markdown_text(text: str) -> str:
    """Markdown to plain text (what the safe HTML says, without the tags)."""
    md = MarkdownIt("zero", {"html": False}).enable(["emphasis", "list", "backticks", "newline"])
    parts = []
    for tok in md.parse(text):
        if tok.type == "inline":
            parts.append("".join(c.content if c.type in ("text", "code_inline") else " "
                                 for c in tok.children or []))
    return _squash(" ".join(parts))


def _truncate_bytes(text: str, limit: int) -> str:
    if len(text.encode("utf-8")) <= limit:
        return text
    cut = text.encode("utf-8")[: limit - len("…".encode())].decode("utf-8", "ignore")
    cut = cut.rsplit(" ", 1)[0] if " " in cut else cut
    return cut.rstrip(" ,;:.") + "…"


def channel_description(book) -> str:
    """The book's description: safe HTML when its Markdown has formatting, else plain text; ≤ 4000 bytes."""
    rendered = markdown_html(book.description)
    plain = markdown_text(book.description)
    inner = re.fullmatch(r"<p>(.*)</p>", rendered, re.S)
    if (inner and "<" not in inner.group(1)) or len(rendered.encode("utf-8")) > MAX_DESCRIPTION_BYTES:
        return _truncate_bytes(plain, MAX_DESCRIPTION_BYTES)
    return rendered


def episode_summary(part) -> list:
    """The first paragraph's opening sentences (the summary shown under an episode)."""
    for sec in part.sections:
        for block in sec.blocks:
            if block.kind == "paragraph":
                chosen, size = [], 0
                for s in block.sentences:
                    chosen.append(s)
                    size += len(s.text) + 1
                    if size >= SUMMARY_CHARS or len(chosen) >= SUMMARY_SENTENCES:
                        break
                return chosen
    return []


def episode_description(part) -> str:
    """The episode's HTML: subtitle, a short summary and the questions for reflection (escaped text in
    p/em/strong/ul/ol/li only), at most 4000 bytes (the summary is shortened first, then the questions)."""
    head = [f"<p><em>{html.escape(_squash(part.subtitle), quote=False)}</em></p>"] if part.subtitle else []
    summary = episode_summary(part)
    questions: list[str] = []
    for sec in part.sections:
        if not sec.is_reflection:
            continue
        questions.append(f"<p><strong>{html.escape(_squash(sec.title), quote=False)}</strong></p>")
        for block in sec.blocks:
            if block.kind == "list":
                tag = "ol" if block.ordered else "ul"
                items = "".join(f"<li>{_sentences_html(item)}</li>" for item in block.items)
                questions.append(f"<{tag}>{items}</{tag}>")
            elif block.kind == "subheading":
                questions.append(f"<p><em>{_sentences_html(block.sentences)}</em></p>")
            else:
                questions.append(f"<p>{_sentences_html(block.sentences)}</p>")
    while True:
        body = head + ([f"<p>{_sentences_html(summary)}</p>"] if summary else []) + questions
        text = "".join(body)
        if len(text.encode("utf-8")) <= MAX_DESCRIPTION_BYTES:
            return text
        if len(summary) > 1:
            summary = summary[:-1]
        elif summary:
            summary = []
        elif questions:
            questions.pop()
        else:
            return _truncate_bytes(text, MAX_DESCRIPTION_BYTES)


def license_of(rights: str, base_url: str) -> tuple[str, str | None]:
    """podcast:license from the rights statement: an SPDX identifier (lower-cased) when the statement is
    one or names a Creative Commons licence, else a custom licence ("all-rights-reserved": a copyright
    notice grants nothing) whose url, required for custom licences, is the book's site."""
    r = rights.strip()
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.+-]*", r):
        return r.lower(), None
    m = re.search(r"\bCC[ -]?(0|BY(?:[ -](?:NC|SA|ND))*)[ -](\d\.\d)\b", r, re.I)
    if m:
        kind = m.group(1).upper().replace(" ", "-")
        return (f"cc0-{m.group(2)}" if kind == "0" else f"cc-{kind.lower()}-{m.group(2)}"), None
    if re.search(r"public domain", r, re.I):
        return "cc0-1.0", None
    return "all-rights-reserved", base_url


# ---------------------------------------------------------------------------- feedgen extensions


def _extensions():
    """The feedgen extension classes."""
    class ItunesExtension(PodcastExtension):
        """feedgen's iTunes extension, writing itunes:explicit as Apple's current true/false."""

        explicit_value: bool | None = None

        def extend_rss(self, rss_feed):
            rss_feed = super().extend_rss(rss_feed)
            if self.explicit_value is not None:
                xml_elem(f"{{{ITUNES_NS}}}explicit", rss_feed[0]).text = "true" if self.explicit_value else "false"
            return rss_feed

    class PodcastIndexExtension(BaseExtension):
        """Podcasting 2.0 channel tags: podcast:guid, podcast:locked, podcast:person, podcast:license."""

        def __init__(self):
            self._guid: str | None = None
            self._locked: tuple[bool, str] | None = None
            self._people: list[tuple[str, str, str]] = []
            self._license: tuple[str, str | None] | None = None

        def extend_ns(self):
            return {"podcast": PODCAST_NS}

        def guid(self, value: str) -> None:
            self._guid = value

        def locked(self, locked: bool, owner: str) -> None:
            self._locked = (locked, owner)

        def person(self, name: str, role: str, group: str) -> None:
            self._people.append((name, role, group))

        def license(self, identifier: str, url: str | None = None) -> None:
            self._license = (identifier, url)

        def extend_rss(self, rss_feed):
            channel = rss_feed[0]
            if self._guid:
                xml_elem(f"{{{PODCAST_NS}}}guid", channel).text = self._guid
            if self._locked is not None:
                el = xml_elem(f"{{{PODCAST_NS}}}locked", channel)
                if self._locked[1]:
                    el.attrib["owner"] = self._locked[1]
                el.text = "yes" if self._locked[0] else "no"
            for name, role, group in self._people:
                el = xml_elem(f"{{{PODCAST_NS}}}person", channel)
                el.attrib["group"] = group
                el.attrib["role"] = role
                el.text = name
            if self._license is not None:
                el = xml_elem(f"{{{PODCAST_NS}}}license", channel)
                if self._license[1]:
                    el.attrib["url"] = self._license[1]
                el.text = self._license[0]
            return rss_feed

    class PodcastIndexEntryExtension(BaseEntryExtension):
        """Podcasting 2.0 episode tags: podcast:chapters and podcast:transcript."""

        def __init__(self):
            self._chapters: tuple[str, str] | None = None
            self._transcripts: list[dict[str, str]] = []

        def chapters(self, url: str, type_: str = "application/json+chapters") -> None:
            self._chapters = (url, type_)

        def transcript(self, url: str, type_: str, language: str = "", rel: str = "") -> None:
            t = {"url": url, "type": type_}
            if language:
                t["language"] = language
            if rel:
                t["rel"] = rel
            self._transcripts.append(t)

        def extend_rss(self, entry):
            if self._chapters:
                xml_elem(f"{{{PODCAST_NS}}}chapters", entry, url=self._chapters[0], type=self._chapters[1])
            for t in self._transcripts:
                el = xml_elem(f"{{{PODCAST_NS}}}transcript", entry)
                for k in ("url", "type", "language", "rel"):
                    if k in t:
                        el.attrib[k] = t[k]
            return entry

    class PodloveExtension(BaseExtension):
        def extend_ns(self):
            return {"psc": PSC_NS}

    class PodloveEntryExtension(BaseEntryExtension):
        """Podlove Simple Chapters (psc:chapters) inline, for parsers without JSON chapters (gPodder)."""

        def __init__(self):
            self._chapters: list[tuple[float, str]] = []

        def chapters(self, chapters: list[tuple[float, str]]) -> None:
            self._chapters = list(chapters)

        def extend_rss(self, entry):
            if self._chapters:
                wrap = xml_elem(f"{{{PSC_NS}}}chapters", entry, version="1.2")
                for start, title in self._chapters:
                    xml_elem(f"{{{PSC_NS}}}chapter", wrap, start=timestamp(start), title=title)
            return entry

    return {
        "podcast": (ItunesExtension, PodcastEntryExtension),
        "podcastindex": (PodcastIndexExtension, PodcastIndexEntryExtension),
        "podlove": (PodloveExtension, PodloveEntryExtension),
    }


def _read_chapters(path: Path) -> list[tuple[float, str]]:
    return [(c.start_time, c.title) for c in read_podcast_chapters(path).chapters]


# ---------------------------------------------------------------------------- the feed


def build_feed(book, output_dir: Path, previous: Path | None = None) -> bytes:
    """The podcast RSS for ``book`` over the site in ``output_dir`` (which must hold each narrated part's
    audio/ID.mp3, chapters/ID.json and transcripts/ID.vtt). With ``previous`` (the feed as published), a
    GUID listeners have that this feed would drop is an error unless ``book.toml`` retires it."""
    site = Path(output_dir)
    pod = book.podcast
    base = pod.base_url
    episodes = book.narrated_parts
    problems: list[Problem] = []
    for part in episodes:
        for path, what in ((audio_path(site, part), "episode audio"), (chapters_path(site, part), "chapters"),
                           (transcript_path(site, part), "transcript")):
            if not path.is_file():
                problems.append(Problem(display_path(path), 0, "E-FEED-001",
                                        f"{what} for '{part.id}' not found (build it before the feed)"))
    if not episodes:
        problems.append(Problem(display_path(book.root), 0, "E-FEED-002", "the book has no narrated parts"))
    if problems:
        raise InputError(problems)
    if previous is not None:
        vanished = vanished_guids(previous, {episode_guid(book, p) for p in episodes}, pod.retired_guids)
        if vanished:
            raise InputError([Problem(display_path(previous), 0, "E-FEED-004",
                                      f"episode GUID {g} ({t}) was published but is not in the new feed: "
                                      "restore the part or list the GUID in podcast.retired_guids")
                              for g, t in vanished])

    fg = FeedGenerator()
    for name, (feed_cls, entry_cls) in _extensions().items():
        fg.register_extension(name, feed_cls, entry_cls)
    newest = max(published_at(p.published) for p in episodes)

    fg.title(book.title)
    fg.description(channel_description(book))
    fg.link(href=feed_url(book), rel="self", type="application/rss+xml")
    fg.link(href=base, rel="alternate")            # the RSS <link> takes the last link() call
    fg.language(book.language)
    if book.rights:
        fg.copyright(book.rights)
    fg.generator(GENERATOR)                       # feedgen's default names itself and its version
    fg.lastBuildDate(newest)                      # feedgen's default is now()
    fg.pubDate(newest)
    fg.image(url=base + COVER_NAME, title=book.title, link=base)

    it = fg.podcast
    it.itunes_author(", ".join(book.authors))
    it.itunes_owner(name=pod.owner, email=pod.email)
    it.itunes_image(base + COVER_NAME)
    it.itunes_category({"cat": pod.category, **({"sub": pod.subcategory} if pod.subcategory else {})})
    it.explicit_value = pod.explicit
    it.itunes_type(pod.type)

    p2 = fg.podcastindex
    p2.guid(podcast_guid(feed_url(book)))
    p2.locked(pod.locked, pod.email)
    for author in book.authors:
        p2.person(author, "author", "writing")
    if book.narrator:
        p2.person(book.narrator, "narrator", "cast")
    if book.rights:
        p2.license(*license_of(book.rights, base))

    for number, part in enumerate(episodes, 1):
        mp3 = audio_path(site, part)
        fe = fg.add_entry(order="append")
        fe.title(part.title)
        fe.link(href=f"{base}stories/{part.id}.html")
        fe.description(episode_description(part))
        fe.guid(episode_guid(book, part), permalink=False)
        fe.enclosure(f"{base}audio/{part.id}.mp3", str(mp3.stat().st_size), "audio/mpeg")
        fe.pubDate(published_at(part.published))
        fe.podcast.itunes_duration(whole_seconds(mp3_duration(mp3)))
        if pod.type == "serial":
            fe.podcast.itunes_episode(number)
        fe.podcast.itunes_episode_type("full")
        fe.podcastindex.chapters(f"{base}chapters/{part.id}.json")
        fe.podcastindex.transcript(f"{base}transcripts/{part.id}.vtt", "text/vtt", book.language, "captions")
        fe.podlove.chapters(_read_chapters(chapters_path(site, part)))
    return fg.rss_str(pretty=True, encoding="UTF-8", xml_declaration=True)


# ---------------------------------------------------------------------------- GUIDs of a published feed


def _parse(path: Path):
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.parse(str(path), parser)


def feed_guids(feed: Path) -> list[tuple[str, str]]:
    """(GUID, title) of every item of a feed file, in order."""
    root = _parse(feed).getroot()
    return [((item.findtext("guid") or "").strip(), (item.findtext("title") or "").strip())
            for item in root.iter("item")]


def vanished_guids(previous: Path, current: set[str], retired: tuple[str, ...] | list[str]) -> list[tuple[str, str]]:
    """GUIDs of the previous feed that are neither in ``current`` nor retired, with their titles."""
    return [(g, t) for g, t in feed_guids(previous) if g and g not in current and g not in set(retired)]


# ---------------------------------------------------------------------------- command line


def cmd_feed(args: argparse.Namespace) -> int:
    book = load_book(args.texts)
    data = build_feed(book, args.site, args.previous)
    atomic_write_bytes(args.output, data)
    return 0


def register(add) -> None:
    def setup_feed(p: argparse.ArgumentParser) -> None:
        p.add_argument("texts", type=Path, help="the texts/ folder (book.toml and the parts)")
        p.add_argument("--site", type=Path, required=True,
                       help="the site folder holding audio/, chapters/ and transcripts/ (output/)")
        p.add_argument("--previous", type=Path, default=None,
                       help="the feed as last published: fail if one of its GUIDs would vanish")
        p.add_argument("-o", "--output", type=Path, required=True, help="the feed to write (output/podcast.xml)")

    add("feed", "write the podcast RSS feed (iTunes and Podcasting 2.0 tags)", setup_feed, cmd_feed)
