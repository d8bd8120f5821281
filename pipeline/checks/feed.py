"""The feed rules: ``python -m pipeline check-feed SITE`` checks ``SITE/podcast.xml`` (built by
:mod:`pipeline.stages.feed`) against its site folder: Apple's required tags, artwork, every URL under
``base_url`` resolving to a file of the site, lengths and durations, unique GUIDs, no GUID of the
previously published feed vanishing unless ``book.toml`` retires it.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

from lxml import etree
from PIL import Image, UnidentifiedImageError

from pipeline.model.contracts import CheckResult, Finding
from pipeline.model.problems import CheckFailed, display_path
from pipeline.model.sources import load_book
from pipeline.stages.feed import (
    ATOM_NS,
    FEED_NAME,
    ITUNES_NS,
    MAX_DESCRIPTION_BYTES,
    PODCAST_NS,
    _parse,
    podcast_guid,
    vanished_guids,
    whole_seconds,
)
from pipeline.system.mp3 import mp3_duration

ARTWORK_MIN, ARTWORK_MAX = 1400, 3000    # Apple: square artwork of 1400-3000 px


def url_to_file(url: str, base_url: str, site: Path) -> Path | None:
    """The site file a URL under base_url names (a folder URL names its index.html); None when the URL is
    not under base_url or would leave the site."""
    if not url.startswith(base_url):
        return None
    rel = unquote(urlsplit(url[len(base_url):]).path)
    if rel == "" or rel.endswith("/"):
        rel += "index.html"
    parts = Path(rel).parts
    if ".." in parts or Path(rel).is_absolute():
        return None
    return site.joinpath(*parts)


def check_artwork(path: Path) -> list[Finding]:
    try:
        with Image.open(path) as img:
            fmt, mode, (w, h) = img.format, img.mode, img.size
            img.verify()
    except (OSError, UnidentifiedImageError) as e:
        return [Finding("C-FEED-004", display_path(path), f"artwork is not a readable image: {e}")]
    out = []
    if fmt not in ("PNG", "JPEG"):
        out.append(Finding("C-FEED-004", display_path(path), f"artwork is {fmt}, not PNG or JPEG"))
    if mode != "RGB":
        out.append(Finding("C-FEED-004", display_path(path), f"artwork is in colour mode {mode}, not RGB"))
    if w != h:
        out.append(Finding("C-FEED-004", display_path(path), f"artwork is {w}×{h} px, not square"))
    if not (ARTWORK_MIN <= w <= ARTWORK_MAX and ARTWORK_MIN <= h <= ARTWORK_MAX):
        out.append(Finding("C-FEED-004", display_path(path), f"artwork is {w}×{h} px, not {ARTWORK_MIN}–{ARTWORK_MAX} px"))
    return out


def check_feed(site: Path, book, previous: Path | None = None) -> list[Finding]:
    """Every problem of ``site/podcast.xml`` against its site folder, one coded finding each (empty: all good)."""
    site = Path(site)
    feed = site / FEED_NAME
    shown = display_path(feed)
    if not feed.is_file():
        return [Finding("C-FEED-001", shown, "feed not found")]
    try:
        root = _parse(feed).getroot()
    except etree.XMLSyntaxError as e:
        return [Finding("C-FEED-001", shown, f"not well-formed XML: {e}")]
    base = book.podcast.base_url
    problems: list[Finding] = []
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        return [Finding("C-FEED-001", shown, "not an RSS 2.0 feed (no rss/channel)")]
    it = f"{{{ITUNES_NS}}}"
    pc = f"{{{PODCAST_NS}}}"

    def text(parent, tag) -> str:
        return (parent.findtext(tag) or "").strip()

    # Apple's required channel tags (and the ones this book promises)
    for tag, label in (("title", "title"), ("description", "description"), ("link", "link"),
                       ("language", "language"), (f"{it}author", "itunes:author")):
        if not text(channel, tag):
            problems.append(Finding("C-FEED-002", shown, f"channel has no {label}"))
    desc = channel.findtext("description") or ""
    if len(desc.encode("utf-8")) > MAX_DESCRIPTION_BYTES:
        problems.append(Finding("C-FEED-003", shown, f"channel description is {len(desc.encode('utf-8'))} bytes "
                                                     f"(Apple allows {MAX_DESCRIPTION_BYTES})"))
    if book.rights and not text(channel, "copyright"):
        problems.append(Finding("C-FEED-002", shown, "channel has no copyright"))
    owner = channel.find(f"{it}owner")
    if owner is None or not text(owner, f"{it}name") or not text(owner, f"{it}email"):
        problems.append(Finding("C-FEED-002", shown, "channel has no itunes:owner with name and email"))
    cats = channel.findall(f"{it}category")
    if not cats or not cats[0].get("text"):
        problems.append(Finding("C-FEED-002", shown, "channel has no itunes:category"))
    if text(channel, f"{it}explicit").lower() not in ("true", "false", "yes", "no", "clean"):
        problems.append(Finding("C-FEED-002", shown, "channel has no itunes:explicit (true or false)"))
    itype = text(channel, f"{it}type")
    if itype not in ("serial", "episodic"):
        problems.append(Finding("C-FEED-002", shown, "channel has no itunes:type (serial or episodic)"))
    image = channel.find(f"{it}image")
    art_url = image.get("href", "") if image is not None else ""
    if not art_url:
        problems.append(Finding("C-FEED-002", shown, "channel has no itunes:image"))
    else:
        art = url_to_file(art_url, base, site)
        if art is None:
            problems.append(Finding("C-FEED-004", shown, f"artwork {art_url} is not under {base}"))
        elif art.is_file():
            problems += check_artwork(art)
    self_link = next((ln.get("href", "") for ln in channel.findall(f"{{{ATOM_NS}}}link")
                      if ln.get("rel") == "self"), "")
    guid = text(channel, f"{pc}guid")
    if not guid:
        problems.append(Finding("C-FEED-005", shown, "channel has no podcast:guid"))
    elif self_link and guid != podcast_guid(self_link):
        problems.append(Finding("C-FEED-005", shown, f"podcast:guid {guid} is not the UUIDv5 of the feed URL {self_link} "
                                                     f"({podcast_guid(self_link)})"))
    locked = channel.find(f"{pc}locked")
    if locked is None or (locked.text or "").strip() not in ("yes", "no"):
        problems.append(Finding("C-FEED-006", shown, "channel has no podcast:locked (yes or no)"))
    elif (locked.text or "").strip() == "yes" and not locked.get("owner"):
        problems.append(Finding("C-FEED-006", shown, "podcast:locked has no owner"))

    # episodes
    items = channel.findall("item")
    if not items:
        problems.append(Finding("C-FEED-007", shown, "the feed has no episodes"))
    seen: dict[str, str] = {}
    numbers: list[int] = []
    for n, item in enumerate(items, 1):
        title = text(item, "title")
        where = f"{shown} episode {n} ({title or 'untitled'})"
        if not title:
            problems.append(Finding("C-FEED-008", where, "has no title"))
        g = text(item, "guid")
        if not g:
            problems.append(Finding("C-FEED-008", where, "has no guid"))
        elif g in seen:
            problems.append(Finding("C-FEED-009", where, f"has the same guid {g} as episode '{seen[g]}'"))
        else:
            seen[g] = title
        if not text(item, "pubDate"):
            problems.append(Finding("C-FEED-008", where, "has no pubDate"))
        enc = item.find("enclosure")
        if enc is None or not enc.get("url"):
            problems.append(Finding("C-FEED-010", where, "has no enclosure"))
            continue
        url, length, mime = enc.get("url", ""), enc.get("length", ""), enc.get("type", "")
        if mime != "audio/mpeg":
            problems.append(Finding("C-FEED-010", where, f"enclosure type is {mime!r}, not 'audio/mpeg'"))
        path = url_to_file(url, base, site)
        if path is None:
            problems.append(Finding("C-FEED-010", where, f"enclosure {url} is not under {base}"))
        elif path.is_file():
            size = path.stat().st_size
            if length != str(size):
                problems.append(Finding("C-FEED-011", where, f"enclosure length {length} is not the size of "
                                                             f"{display_path(path)} ({size} bytes)"))
            dur = text(item, f"{it}duration")
            try:
                actual = whole_seconds(mp3_duration(path))
            except Exception as e:  # noqa: BLE001 - a broken MP3 is a failed check, not a crash
                problems.append(Finding("C-FEED-012", where, f"audio {display_path(path)} is not a readable MP3: {e}"))
            else:
                if not dur.isdigit():
                    problems.append(Finding("C-FEED-012", where, f"has no itunes:duration in whole seconds (got {dur!r})"))
                elif int(dur) != actual:
                    problems.append(Finding("C-FEED-012", where,
                                            f"itunes:duration {dur} s does not match {display_path(path)} ({actual} s)"))
        if not text(item, f"{it}episodeType"):
            problems.append(Finding("C-FEED-013", where, "has no itunes:episodeType"))
        ep = text(item, f"{it}episode")
        if itype == "serial":
            if not ep.isdigit():
                problems.append(Finding("C-FEED-013", where, "has no itunes:episode number (the show is serial)"))
            else:
                numbers.append(int(ep))
        if item.find(f"{pc}chapters") is None:
            problems.append(Finding("C-FEED-013", where, "has no podcast:chapters"))
        tr = item.find(f"{pc}transcript")
        if tr is None or tr.get("type") != "text/vtt" or tr.get("rel") != "captions" or not tr.get("language"):
            problems.append(Finding("C-FEED-013", where, "has no podcast:transcript (text/vtt, language, rel=captions)"))
    if numbers and numbers != sorted(numbers):
        problems.append(Finding("C-FEED-014", shown, f"itunes:episode numbers are not in the book's order: {numbers}"))
    if len(set(numbers)) != len(numbers):
        problems.append(Finding("C-FEED-014", shown, f"itunes:episode numbers repeat: {numbers}"))

    # every URL under base_url names a file of the site
    reported: set[str] = set()
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        candidates = [v for k, v in el.attrib.items() if k in ("url", "href")]
        if el.tag in ("link", "url") and el.text:
            candidates.append(el.text.strip())
        for url in candidates:
            if not url.startswith(base) or url in reported:
                continue
            path = url_to_file(url, base, site)
            if path is None:
                problems.append(Finding("C-FEED-015", shown, f"{url} leaves the site folder"))
            elif not path.is_file():
                problems.append(Finding("C-FEED-015", shown, f"{url} does not resolve to a file ({display_path(path)} is missing)"))
            reported.add(url)

    # a GUID listeners have must not vanish unless retired
    if previous is not None:
        try:
            gone = vanished_guids(previous, set(seen), book.podcast.retired_guids)
        except (OSError, etree.XMLSyntaxError) as e:
            problems.append(Finding("C-FEED-016", display_path(previous), f"cannot read the previous feed: {e}"))
        else:
            for g, t in gone:
                problems.append(Finding("C-FEED-017", shown, f"episode GUID {g} ({t}) of the previous feed is missing "
                                                             "(listeners would lose it); restore it or list it in podcast.retired_guids"))
    return problems


# ---------------------------------------------------------------------------- the stage


def feed_check(site: Path, book, previous: Path | None = None) -> CheckResult:
    """The feed rules as the release gate's result ("feed")."""
    t = time.perf_counter()
    findings = check_feed(site, book, previous)
    summary = (f"{display_path(Path(site) / FEED_NAME)}: {len(book.narrated_parts)} episodes" if not findings
               else f"{len(findings)} problem(s)")
    return CheckResult("feed", not findings, tuple(findings), summary, time.perf_counter() - t)


def cmd_check_feed(args: argparse.Namespace) -> int:
    result = feed_check(args.site, load_book(args.texts), args.previous)
    if not result.passed:
        raise CheckFailed(result.problems)
    print(f"ok: {result.summary}")
    return 0


def register(add) -> None:
    def setup_check(p: argparse.ArgumentParser) -> None:
        p.add_argument("site", type=Path, help="the built site folder (output/), holding podcast.xml")
        p.add_argument("--texts", type=Path, default=Path("texts"), help="the texts/ folder (default: texts)")
        p.add_argument("--previous", type=Path, default=None,
                       help="the feed as last published: its GUIDs must all still be there or be retired")

    add("check-feed", "check the built feed against the site and Apple's and Podcasting 2.0's rules",
        setup_check, cmd_check_feed)
