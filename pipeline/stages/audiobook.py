"""The audiobook edition: one M4B of the whole book (AAC-LC in MP4), with chapters, cover and metadata.

Three stages, so that an edit costs seconds:

- ``aac-layout``: the book's channel count, from the masters' reports: stereo only when every part is
  stereo (an MP4 track has one layout), else mono. Rewritten only when it changes.
- ``aac`` (one per part): the part's master (the same FLAC the MP3s are made from: under the true-peak
  ceiling, and at the loudness target plus the 0.45 dB that LAME takes off, which this takes off too)
  encoded once to AAC-LC in ADTS, ``build/m4b/ID.aac``. Only a new master re-encodes it. 64 kbit/s for
  mono (96 for stereo) at the master's rate, ffmpeg's native encoder with its ``fast`` coder: transparent
  enough for speech at 3.5 times the speed of its default coder.
- ``audiobook`` (one for the book): the parts' AAC frames joined in reading order without decoding (each
  part keeps its head and tail pause, so every join is in silence), the chapters from the timeline, the
  tags and the cover, into ``SITE/BOOK_ID.m4b``. A text edit re-runs only this: about a second.

Timing. Each part's stream starts with the encoder's priming frame (:data:`PRIMING` samples), so the part's
audio begins that long after the part's start in the book; the part's length in the book is its number
of AAC frames times 1024 samples (the master's length plus at most two frames). A part's first chapter
starts at the part's start; every other chapter at the part's start plus the priming plus the chapter's
time in the sync map, which is the MP3's CHAP time: the two agree within a millisecond.

Chapters: one per section of every narrated part, in reading order. The part's opening (before its first
``##`` heading) is titled with the part's title alone; each section "Part title: Section title". A part
with no sections is one chapter. ffmpeg writes them twice, as the QuickTime chapter track (Apple's
players, MediaInfo's first menu) and as the Nero ``chpl`` list (most others, ffprobe without the track).

Tags (iTunes atoms, written by mutagen; every value is plain text, ``&`` and all): ``©nam`` and ``©alb``
the book's title, ``©ART`` and ``aART`` its authors, ``©wrt`` (composer) the narrator, which is the
convention audiobook players read (Audiobookshelf, BookPlayer, Smart AudioBook Player), ``©day`` the year
of publication, ``desc`` and ``ldes`` the description, ``©gen`` "Audiobook", ``stik`` 2 (audiobook),
``cprt`` the rights, ``pgap`` (gapless), ``covr`` the cover (``build/cover.png``: square, 1400-3000 px,
checked by the cover stage), and as iTunes free-form atoms ``SUBTITLE``, ``PUBLISHER``, ``LANGUAGE`` (the
book's BCP 47 tag) and ``ISBN``. The audio track's language is the ISO 639-2 code.

Reproducible: ffmpeg in bit-exact mode (no encoder string, no creation time: the MP4 times are zero),
mutagen's atoms in a fixed order; the same inputs give the same bytes.

    python -m pipeline aac build/master/ID.flac -o build/m4b/ID.aac
    python -m pipeline audiobook texts --sync build/sync --aac build/m4b --cover build/cover.png \
        -o build/site/BOOK_ID.m4b --plan build/m4b/book.json --download build/m4b/download.json
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pipeline.model.contracts import SyncMap, read_syncmap
from pipeline.model.problems import InputError, Problem, display_path
from pipeline.model.sources import Part, load_book
from pipeline.stages.audio import LAME_SCALE_DB, iso639_2
from pipeline.system.ffmpeg import probe, run
from pipeline.system.fsutil import atomic_path, atomic_write_text, write_text_if_changed

#: AAC samples per frame, and the encoder's priming: one frame before the audio begins
FRAME = 1024
PRIMING = 1024
BITRATE = {1: 64, 2: 96}
_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)
GENRE = "Audiobook"
ITUNES = "----:com.apple.iTunes:"


# ---------------------------------------------------------------------------- one part


def aac_encoder(master: Path, out: Path, channels: int, source_channels: int) -> list[str]:
    """ffmpeg's arguments. A stereo master in a mono book is the mean of its channels (a narration's two
    channels carry the same voice: the level holds); a mono master in a stereo book (only a mixed book read
    with another layout given) goes to both channels at its own level, not ffmpeg's centre upmix at -3 dB."""
    chain = []
    if channels == 2 and source_channels == 1:
        chain.append("pan=stereo|c0=c0|c1=c0")
    elif channels == 1 and source_channels == 2:
        chain.append("pan=mono|c0=0.5*c0+0.5*c1")
    # the master is LAME_SCALE_DB over the target (LAME scales its input down by that much); AAC does not
    chain.append(f"volume={-LAME_SCALE_DB:.2f}dB")
    return ["-v", "error", "-y", "-i", str(master), "-map", "0:a:0", "-af", ",".join(chain), "-ac", str(channels),
            "-c:a", "aac", "-aac_coder", "fast", "-b:a", f"{BITRATE.get(channels, 96)}k",
            "-fflags", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1", "-f", "adts", str(out)]


def encode_part(master: Path, out: Path, channels: int | None = None) -> None:
    """The part's master as AAC-LC in ADTS, written atomically (``channels`` defaults to the master's)."""
    source = min(probe(master).channels, 2)
    channels = source if channels is None else channels
    with atomic_path(out) as tmp:
        run(aac_encoder(master, tmp, channels, source), master, "E-M4B-002", "could not encode the audiobook's AAC")


@dataclass(frozen=True)
class AdtsInfo:
    frames: int
    sample_rate: int
    channels: int

    @property
    def samples(self) -> int:
        return self.frames * FRAME


def adts_info(path: Path) -> AdtsInfo:
    """Frames, rate and channels of an ADTS stream, read from its frame headers (every frame checked)."""
    shown = display_path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(Problem(shown, 0, "E-M4B-003", f"cannot read the part's AAC: {e.strerror}")) from e
    view = memoryview(data)
    pos, frames, rate, channels = 0, 0, 0, 0
    n = len(data)
    while pos < n:
        if pos + 7 > n or view[pos] != 0xFF or (view[pos + 1] & 0xF6) != 0xF0:
            raise InputError(Problem(shown, 0, "E-M4B-003", f"not an ADTS AAC stream at byte {pos} (re-run make)"))
        b2, b3 = view[pos + 2], view[pos + 3]
        length = ((b3 & 0x03) << 11) | (view[pos + 4] << 3) | (view[pos + 5] >> 5)
        if frames == 0:
            rate = _RATES[(b2 >> 2) & 0x0F] if ((b2 >> 2) & 0x0F) < len(_RATES) else 0
            channels = ((b2 & 0x01) << 2) | (b3 >> 6)
        if length < 7 or pos + length > n:
            raise InputError(Problem(shown, 0, "E-M4B-003", f"truncated AAC frame at byte {pos} (re-run make)"))
        pos += length
        frames += 1
    if frames == 0 or not rate:
        raise InputError(Problem(shown, 0, "E-M4B-003", "empty AAC stream (re-run make)"))
    return AdtsInfo(frames, rate, channels)


# ---------------------------------------------------------------------------- the book


@dataclass(frozen=True)
class BookChapter:
    title: str
    start: float       # seconds in the book
    end: float
    part: str


@dataclass(frozen=True)
class PartSpan:
    id: str
    start: float       # seconds in the book (the part's first AAC frame)
    duration: float    # its frames' length


@dataclass(frozen=True)
class Plan:
    """What the M4B holds: every part's span and every chapter, in book time (``build/m4b/book.json``,
    read by the release check and the tests)."""
    duration: float
    sample_rate: int
    channels: int
    bitrate: int
    parts: tuple[PartSpan, ...]
    chapters: tuple[BookChapter, ...]

    def to_json(self) -> str:
        data = {"duration": round(self.duration, 6), "sample_rate": self.sample_rate, "channels": self.channels,
                "bitrate": self.bitrate, "priming": PRIMING,
                "parts": [{"id": p.id, "start": round(p.start, 6), "duration": round(p.duration, 6)}
                          for p in self.parts],
                "chapters": [{"title": c.title, "start": round(c.start, 3), "end": round(c.end, 3), "part": c.part}
                             for c in self.chapters]}
        return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def read_plan(path: Path) -> Plan:
    shown = display_path(path)
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        return Plan(duration=float(d["duration"]), sample_rate=int(d["sample_rate"]), channels=int(d["channels"]),
                    bitrate=int(d["bitrate"]),
                    parts=tuple(PartSpan(p["id"], float(p["start"]), float(p["duration"])) for p in d["parts"]),
                    chapters=tuple(BookChapter(c["title"], float(c["start"]), float(c["end"]), c["part"])
                                   for c in d["chapters"]))
    except FileNotFoundError:
        raise InputError(Problem(shown, 0, "E-M4B-004", "the audiobook's plan is missing (run make)")) from None
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(Problem(shown, 0, "E-M4B-004", f"not an audiobook plan: {e}")) from None


def chapter_title(part_title: str, section: str, first: bool) -> str:
    return part_title if first else f"{part_title}: {section}"


def plan_book(book, sync_dir: Path, aac_dir: Path) -> tuple[Plan, list[Path]]:
    """The parts' spans and the chapters from the sync maps and the parts' AAC streams; coded errors for
    every part at once."""
    narrated = list(book.narrated_parts)
    if not narrated:
        raise InputError(Problem(display_path(book.root / "book.toml"), 0, "E-M4B-001",
                                 "no narrated part: the book has no audio for an audiobook"))
    problems: list[Problem] = []
    infos: list[tuple[Part, AdtsInfo, SyncMap, Path]] = []
    for part in narrated:
        aac = aac_dir / f"{part.id}.aac"
        try:
            info = adts_info(aac)
            sync = read_syncmap(sync_dir / f"{part.id}.json")
        except InputError as e:
            problems.extend(e.problems)
            continue
        if abs(info.samples / info.sample_rate - sync.duration) > 0.1 + 2 * FRAME / info.sample_rate:
            problems.append(Problem(display_path(aac), 0, "E-M4B-005",
                                    f"lasts {info.samples / info.sample_rate:.2f} s but the timeline "
                                    f"{display_path(sync_dir / f'{part.id}.json')} {sync.duration:.2f} s (re-run make)"))
            continue
        infos.append((part, info, sync, aac))
    if problems:
        raise InputError(problems)
    # one MP4 track has one rate and one layout: `aac-layout` gives every part the book's channel count
    rates = {i.sample_rate for _, i, _, _ in infos}
    layouts = {i.channels for _, i, _, _ in infos}
    if len(rates) > 1 or len(layouts) > 1:
        raise InputError(Problem(display_path(aac_dir), 0, "E-M4B-006",
                                 f"the parts' AAC differ in sample rate {sorted(rates)} or channels {sorted(layouts)} "
                                 "(re-run make)"))
    rate, channels = rates.pop(), layouts.pop()
    spans, chapters = [], []
    at = 0   # samples
    for part, info, sync, _ in infos:
        start = at / rate
        spans.append(PartSpan(part.id, start, info.samples / rate))
        for k, c in enumerate(sync.chapters or ()):
            begin = start if k == 0 else (at + PRIMING) / rate + c.begin
            chapters.append(BookChapter(chapter_title(part.title, c.title, k == 0), begin, 0.0, part.id))
        if not sync.chapters:
            chapters.append(BookChapter(part.title, start, 0.0, part.id))
        at += info.samples
    total = at / rate
    ends = [c.start for c in chapters[1:]] + [total]
    chapters = [BookChapter(c.title, c.start, e, c.part) for c, e in zip(chapters, ends, strict=True)]
    plan = Plan(duration=total, sample_rate=rate, channels=channels, bitrate=BITRATE.get(channels, 96),
                parts=tuple(spans), chapters=tuple(chapters))
    return plan, [aac for *_, aac in infos]


def _meta_escape(s: str) -> str:
    out = s
    for ch in ("\\", "=", ";", "#"):
        out = out.replace(ch, "\\" + ch)
    return out.replace("\n", "\\\n")


def ffmetadata(plan: Plan) -> str:
    """The chapters as an ffmetadata file (milliseconds)."""
    lines = [";FFMETADATA1"]
    for c in plan.chapters:
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={round(c.start * 1000)}", f"END={round(c.end * 1000)}",
                  f"title={_meta_escape(c.title)}"]
    return "\n".join(lines) + "\n"


def mux(plan: Plan, streams: list[Path], out: Path, language: str) -> None:
    """The parts' AAC frames, joined without decoding, and the chapters, into an MP4 at ``out``."""
    with tempfile.TemporaryDirectory(prefix="m4b.") as td:
        tmpdir = Path(td)
        meta = tmpdir / "chapters.txt"
        meta.write_text(ffmetadata(plan), encoding="utf-8")
        joined = tmpdir / "book.aac"     # the parts' frames end to end: one ADTS stream
        with open(joined, "wb") as w:
            for s in streams:
                with open(s, "rb") as f:
                    shutil.copyfileobj(f, w, 1 << 20)
        run(["-v", "error", "-y", "-f", "aac", "-i", str(joined), "-i", str(meta),
             "-map", "0:a", "-map_metadata", "1", "-map_chapters", "1", "-c", "copy",
             "-metadata:s:a:0", f"language={language}", "-fflags", "+bitexact", "-flags:a", "+bitexact",
             "-movflags", "+faststart", "-f", "ipod", str(out)], out, "E-M4B-002", "could not write the audiobook")


def expected_tags(book, cover_png: bytes) -> dict[str, object]:
    """The iTunes atoms the M4B carries, from book.toml (the release check reads them back)."""
    from mutagen.mp4 import MP4Cover, MP4FreeForm

    authors = ", ".join(book.authors)
    tags: dict[str, object] = {
        "©nam": [book.title], "©alb": [book.title], "©ART": [authors], "aART": [authors],
        "©wrt": [book.narrator], "©day": [str(book.published.year)], "©gen": [GENRE],
        "desc": [book.description], "ldes": [book.description], "cprt": [book.rights], "stik": [2],
        "pgap": True, "covr": [MP4Cover(cover_png, imageformat=MP4Cover.FORMAT_PNG)],
        f"{ITUNES}PUBLISHER": [MP4FreeForm(book.publisher.encode("utf-8"))],
        f"{ITUNES}LANGUAGE": [MP4FreeForm(book.language.encode("utf-8"))],
    }
    if book.subtitle:
        tags[f"{ITUNES}SUBTITLE"] = [MP4FreeForm(book.subtitle.encode("utf-8"))]
    if book.isbn:
        tags[f"{ITUNES}ISBN"] = [MP4FreeForm(book.isbn.encode("utf-8"))]
    return {k: v for k, v in tags.items() if v not in ([""], [b""])}


def write_tags(path: Path, tags: dict[str, object]) -> None:
    from mutagen.mp4 import MP4

    m4b = MP4(path)
    if m4b.tags is None:
        m4b.add_tags()
    assert m4b.tags is not None
    for key in sorted(tags):
        m4b.tags[key] = tags[key]
    m4b.save()


def format_length(seconds: float) -> str:
    """"2 h 16 min" (or "42 min") for the download link."""
    minutes = int(round(seconds / 60))
    h, m = divmod(minutes, 60)
    return f"{h} h {m} min" if h else f"{max(m, 1)} min"


def format_size(n: int) -> str:
    """"62 MB" (decimal megabytes, as file managers and browsers show them)."""
    mb = n / 1e6
    return f"{mb:.0f} MB" if mb >= 10 else f"{mb:.1f} MB"


def download_facts(plan: Plan, out: Path, size: int) -> str:
    """What the web edition's index says of the M4B: its file name, length and size (rewritten only
    when one of those changes, so that a chapter edit does not rebuild the web pages)."""
    return json.dumps({"href": out.name, "length": format_length(plan.duration), "size": format_size(size),
                       "chapters": len(plan.chapters)}, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def build_audiobook(texts: Path, sync_dir: Path, aac_dir: Path, cover: Path, out: Path, plan_out: Path | None,
                    download: Path | None) -> Plan:

    book = load_book(texts)
    plan, streams = plan_book(book, sync_dir, aac_dir)
    try:
        cover_png = cover.read_bytes()
    except OSError as e:
        raise InputError(Problem(display_path(cover), 0, "E-M4B-007", f"cannot read the cover: {e.strerror}")) from e
    with atomic_path(out) as tmp:
        mux(plan, streams, tmp, iso639_2(book.language))   # the ISO 639-2 code the MP3s' TLAN carries
        write_tags(tmp, expected_tags(book, cover_png))
        size = tmp.stat().st_size
    if plan_out is not None:
        atomic_write_text(plan_out, plan.to_json())
    if download is not None:
        write_text_if_changed(download, download_facts(plan, out, size))
    return plan


def book_channels(reports: list[Path]) -> int:
    """The audiobook's channels (one MP4 track has one layout): stereo only when every part's master is
    stereo (a stereo narration); a mono narration, or a book of mixed parts, is mono (a voice: half the
    bits and half the encoding time of stereo for the same speech)."""
    from pipeline.model.contracts import read_audio_report

    return 2 if reports and all(read_audio_report(r).plan.channels == 2 for r in reports) else 1


def cmd_aac(args: argparse.Namespace) -> int:
    channels = int(args.channels.read_text().strip()) if args.channels else None
    encode_part(args.master, args.output, channels)
    return 0


def cmd_aac_layout(args: argparse.Namespace) -> int:
    write_text_if_changed(args.output, f"{book_channels(args.reports)}\n")
    return 0


def cmd_audiobook(args: argparse.Namespace) -> int:
    plan = build_audiobook(args.texts, args.sync, args.aac, args.cover, args.output, args.plan, args.download)
    print(f"{display_path(args.output)}: {format_length(plan.duration)}, {len(plan.chapters)} chapters, "
          f"{'mono' if plan.channels == 1 else 'stereo'} AAC-LC {plan.bitrate} kbit/s")
    return 0


def register(add) -> None:
    def setup_aac(p: argparse.ArgumentParser) -> None:
        p.add_argument("master", type=Path, help="the part's master (build/master/ID.flac, or build/cut/ID.flac)")
        p.add_argument("-o", "--output", type=Path, required=True, help="the part's AAC (build/m4b/ID.aac)")
        p.add_argument("--channels", type=Path, default=None,
                       help="a file holding the book's channel count (`aac-layout`; default: the master's)")

    def setup_layout(p: argparse.ArgumentParser) -> None:
        p.add_argument("reports", type=Path, nargs="+", help="every narrated part's master report (build/audio/ID.json)")
        p.add_argument("-o", "--output", type=Path, required=True,
                       help="the channel count, 1 or 2 (rewritten only when it changes)")

    def setup_book(p: argparse.ArgumentParser) -> None:
        p.add_argument("texts", type=Path, help="the texts/ folder (book.toml and the parts)")
        p.add_argument("--sync", type=Path, required=True, help="folder of sync maps (build/sync/ID.json)")
        p.add_argument("--aac", type=Path, required=True, help="folder of the parts' AAC (build/m4b/ID.aac)")
        p.add_argument("--cover", type=Path, required=True, help="the cover (build/cover.png)")
        p.add_argument("-o", "--output", type=Path, required=True, help="the M4B (build/site/BOOK_ID.m4b)")
        p.add_argument("--plan", type=Path, default=None, help="write the parts' spans and chapters (JSON)")
        p.add_argument("--download", type=Path, default=None,
                       help="write the web index's download facts (JSON; rewritten only when they change)")

    add("aac-layout", "decide the audiobook's channels from the masters' reports", setup_layout, cmd_aac_layout)
    add("aac", "encode a part's master as AAC-LC for the audiobook (build/m4b/ID.aac)", setup_aac, cmd_aac)
    add("audiobook", "join the parts' AAC into one M4B with chapters, tags and cover", setup_book, cmd_audiobook)
