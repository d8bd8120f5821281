"""The timeline: read and write sync maps, and write the WebVTT transcript and JSON chapters from them.

A sync map (``build/sync/ID.json``) gives every spoken fragment (sentence or heading) of a part a begin
and end time in the master audio, and every section (chapter) its begin and end. Fragments are contiguous,
cover the whole audio and are in text order; their ids are the sentence ids of the source model.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.system.fsutil import atomic_write_text
from pipeline.model.problems import InputError, Problem, display_path


DEVIATION_KINDS = ("skip", "retake", "extra", "misread")
# a fragment whose confidence is below this is doubtful: the release report flags it and the timeline
# shades it (calibrated on bench/deviations.py: see docs/architecture.md, "Confidence")
DOUBT = 0.5


@dataclass(frozen=True)
class SyncMap:
    part: str
    audio: str
    duration: float
    fragments: list[dict]
    chapters: list[dict]
    # where the narration departs from the text: {"kind": skip|retake|extra|misread, "begin", "end",
    # "fragment", "text", "confidence"}, in time order (empty for an exact reading)
    deviations: list[dict] = field(default_factory=list)

    def to_json(self) -> str:
        data = {"part": self.part, "audio": self.audio, "duration": round(self.duration, 3),
                "fragments": [_rounded(f) for f in self.fragments],
                "chapters": [_rounded(c) for c in self.chapters],
                "deviations": [_rounded(d) for d in self.deviations]}
        return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def audible_clips(sync: SyncMap) -> list[tuple[float, float] | None]:
    """Per fragment, the stretch of audio that really is its narration, for every edition's read-along:
    None for a skipped fragment (nothing to play, no cue, no highlight); otherwise its span without the
    unscripted speech or false start (``extra``/``retake`` deviations) that the contiguous fragment
    list folds into it.

    Such speech lies inside the span of the fragment before the sentence it names (the fragment's own
    speech comes first, so the clip ends where the unscripted speech begins), except before the first
    sentence, where it lies inside the first fragment's own span and names it (the clip starts after
    it), and after the last sentence, where it names the last fragment and follows its speech."""
    clips: list[tuple[float, float] | None] = []
    last = sync.fragments[-1]["id"] if sync.fragments else None
    spans = sorted((float(d["begin"]), float(d["end"]), d["fragment"]) for d in sync.deviations
                   if d.get("kind") in ("extra", "retake") and float(d["end"]) > float(d["begin"]))
    skipped = {d["fragment"] for d in sync.deviations if d.get("kind") == "skip"}
    for f in sync.fragments:
        b, e = float(f["begin"]), float(f["end"])
        if e <= b or f["id"] in skipped:
            clips.append(None)
            continue
        for sb, se, names in spans:
            if se <= b or sb >= e:
                continue
            before = names == f["id"] and (f["id"] != last or len(sync.fragments) == 1)
            if before:
                b = max(b, min(se, e))
            else:
                e = min(e, sb)
        clips.append((b, e) if e > b else None)
    return clips


# ---------------------------------------------------------------------------- cuts
# With ``[audio] cut_retakes`` the cut stage removes false starts from the master; its list of cuts
# (``build/cut/ID.json``: each cut's ``begin``/``end`` in the uncut master, ``duration`` removed and ``at``,
# where the join lies in the cut audio) maps times between the two timelines.


def read_cuts(path: Path) -> list[dict]:
    """The cuts of a part (``build/cut/ID.json``), in time order."""
    shown = display_path(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        cuts = data["cuts"]
        out = sorted(({**c, "begin": float(c["begin"]), "end": float(c["end"])} for c in cuts),
                     key=lambda c: c["begin"])
    except FileNotFoundError:
        raise InputError(Problem(shown, 0, "E-SYNC-006", "list of cuts not found (run the cut stage)")) from None
    except (OSError, ValueError, UnicodeDecodeError, KeyError, TypeError) as e:
        raise InputError(Problem(shown, 0, "E-SYNC-006",
                                 f"not a list of cuts ({type(e).__name__}: {e})")) from None
    for c in out:
        c["duration"] = c["end"] - c["begin"]
    return out


def cut_time(t: float, cuts: list[dict]) -> float:
    """A time in the uncut master, in the cut audio: later than a cut, earlier by its length; inside a cut,
    the join."""
    return t - sum(min(max(t - c["begin"], 0.0), c["end"] - c["begin"]) for c in cuts)


def uncut_time(t: float, cuts: list[dict], at_join: str = "after") -> float:
    """A time in the cut audio, in the uncut master (the inverse of :func:`cut_time`). At a join,
    ``at_join="after"`` gives the end of the cut (the audio that follows it: right for where something
    begins), ``"before"`` its beginning (right for where something ends)."""
    removed = 0.0
    for c in cuts:
        join = c["begin"] - removed
        if t > join + 1e-9 or (at_join == "after" and abs(t - join) <= 1e-9):
            removed += c["end"] - c["begin"]
        else:
            break
    return t + removed


def _rounded(d: dict) -> dict:
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in d.items()}


def write_syncmap(path: Path, sync: SyncMap) -> None:
    atomic_write_text(path, sync.to_json())


def read_syncmap(path: Path) -> SyncMap:
    shown = display_path(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(Problem(shown, 0, "E-SYNC-001", "sync map not found (run the align stage)")) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(Problem(shown, getattr(e, "lineno", 0), "E-SYNC-002", f"sync map is not valid JSON: {e}")) from None
    problems = []
    for key in ("part", "duration", "fragments"):
        if key not in data:
            problems.append(Problem(shown, 0, "E-SYNC-003", f"sync map has no '{key}'"))
    if problems:
        raise InputError(problems)
    prev_end = 0.0
    for i, f in enumerate(data["fragments"]):
        if not all(k in f for k in ("id", "begin", "end", "text")):
            problems.append(Problem(shown, 0, "E-SYNC-003", f"fragment {i} lacks id, begin, end or text"))
            continue
        if f["end"] < f["begin"] or abs(f["begin"] - prev_end) > 0.0015:
            problems.append(Problem(shown, 0, "E-SYNC-004",
                                    f"fragment {f['id']} ({f['begin']}–{f['end']}) is not contiguous with the one before"))
        prev_end = f["end"]
    if problems:
        raise InputError(problems)
    deviations = data.get("deviations", [])
    ids = {f["id"] for f in data["fragments"]}
    for i, d in enumerate(deviations):
        if not isinstance(d, dict) or d.get("kind") not in DEVIATION_KINDS or d.get("fragment") not in ids \
                or not all(isinstance(d.get(k), (int, float)) for k in ("begin", "end")):
            problems.append(Problem(shown, 0, "E-SYNC-005", f"deviation {i} is not a known kind naming a fragment "
                                                            "of this map with a begin and an end"))
    if problems:
        raise InputError(problems)
    return SyncMap(part=data["part"], audio=data.get("audio", ""), duration=float(data["duration"]),
                   fragments=data["fragments"], chapters=data.get("chapters", []), deviations=deviations)


def mismatch(sync: SyncMap, sentence_ids: list[str]) -> str | None:
    """None when the sync map times exactly these sentences in this order; else what differs
    (a stale sync map after the text was edited)."""
    got = [f["id"] for f in sync.fragments]
    if got == sentence_ids:
        return None
    have, want = set(got), set(sentence_ids)
    missing = [i for i in sentence_ids if i not in have]
    extra = [i for i in got if i not in want]
    if missing:
        return f"{len(missing)} sentence(s) not timed (first {missing[0]})"
    if extra:
        return f"{len(extra)} unknown fragment(s) (first {extra[0]})"
    return "fragments out of text order"


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
        text = _vtt_escape(f["text"])
        if not text or clip is None:
            continue
        out += [f["id"], f"{timestamp(clip[0])} --> {timestamp(clip[1])}", text, ""]
    return "\n".join(out)


def to_json_chapters(sync: SyncMap, title: str = "") -> str:
    """Podcasting 2.0 JSON chapters, version 1.2."""
    chapters = [{"startTime": round(c["begin"], 3), "endTime": round(c["end"], 3), "title": c["title"]}
                for c in sync.chapters]
    data = {"version": "1.2.0", "chapters": chapters}
    if title:
        data["title"] = title
    return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


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
