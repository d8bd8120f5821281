"""The timeline's derived files: the WebVTT transcript and the Podcasting 2.0 JSON chapters, written from a
part's sync map, and the clock format every edition writes times in.

The sync map itself (``build/sync/ID.json``: fragments, chapters, deviations) is a contract between
stages: :mod:`pipeline.model.contracts` defines, writes and reads it.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.model.contracts import PodcastChapter, PodcastChapters, SyncMap, audible_clips, read_syncmap
from pipeline.system.fsutil import atomic_write_text

# ---------------------------------------------------------------------------- WebVTT and JSON chapters


def timestamp(t: float, hour_digits: int = 2) -> str:
    """``HH:MM:SS.mmm`` to the millisecond: WebVTT cue times, Podlove chapter starts and (with one hour
    digit) SMIL clock values."""
    ms = int(round(t * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:0{hour_digits}d}:{m:02d}:{s:02d}.{ms:03d}"


def _vtt_escape(text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(text.replace("-->", "→").split())


def to_webvtt(sync: SyncMap, title: str = "") -> str:
    """One cue per fragment that was read, identified by its sentence id (so players and the web page can
    link them), over its audible clip: no cue for a skipped sentence, none over unscripted speech."""
    out = ["WEBVTT" + (f" - {_vtt_escape(title)}" if title else ""), ""]
    for f, clip in zip(sync.fragments, audible_clips(sync)):
        text = _vtt_escape(f.text)
        if not text or clip is None:
            continue
        out += [f.id, f"{timestamp(clip[0])} --> {timestamp(clip[1])}", text, ""]
    return "\n".join(out)


def to_json_chapters(sync: SyncMap, title: str = "") -> str:
    """Podcasting 2.0 JSON chapters, version 1.2."""
    return PodcastChapters(chapters=tuple(PodcastChapter(start_time=c.begin, end_time=c.end, title=c.title)
                                          for c in sync.chapters), title=title).to_json()


def cmd_transcript(args: argparse.Namespace) -> int:
    sync = read_syncmap(args.sync)
    atomic_write_text(args.output, to_webvtt(sync, args.title or ""))
    return 0


def cmd_chapters(args: argparse.Namespace) -> int:
    sync = read_syncmap(args.sync)
    atomic_write_text(args.output, to_json_chapters(sync, args.title or ""))
    return 0


def register(add) -> None:
    def setup(p: argparse.ArgumentParser) -> None:
        p.add_argument("sync", type=Path, help="the part's sync map")
        p.add_argument("--title", default="", help="the part's title")
        p.add_argument("-o", "--output", type=Path, required=True)

    add("transcript", "write the WebVTT transcript (one cue per sentence) from a sync map", setup, cmd_transcript)
    add("chapters", "write Podcasting 2.0 JSON chapters from a sync map", setup, cmd_chapters)
