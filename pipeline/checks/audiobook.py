"""The audiobook check of the release gate: the M4B read back by three independent readers and measured.

- **ffprobe** lists every chapter with its title and start (within 1 ms of the plan the audiobook stage
  wrote from the timeline), one AAC-LC audio track of the plan's channels, and a duration within 0.1 s per
  part of the sum of the parts' timelines (C-M4B-001..003);
- **mutagen** reads every tag back as book.toml says it (``stik`` 2, the cover's bytes, ...) and the Nero
  ``chpl`` chapter list (C-M4B-004, C-M4B-005);
- **MediaInfo** (``mediainfo --Output=JSON``, Debian's ``mediainfo``) lists the same chapters in both of
  its menus, the QuickTime chapter track and the Nero list (C-M4B-006);
- **ffmpeg ebur128** on the file as written: integrated loudness within ±0.5 LU of the target (dual mono
  for mono, as for the MP3s) and true peak at or under the ceiling (C-M4B-007, C-M4B-008). The measurement
  is kept (``--loudness``) keyed by the SHA-256 of the audio stream read out of the M4B, and trusted while
  that is byte-identical (:func:`book_loudness`): a text edit changes chapters and tags, not the audio.

It runs as its own stage (``check-audiobook``, beside EPUBCheck and axe) and keeps its result for the gate
by the M4B's SHA-256; the figures (length, size, chapters, loudness, peak) are the result's summary, which
the terminal and the release report show.

    python -m pipeline check-audiobook build/site/BOOK_ID.m4b --plan build/m4b/book.json --texts texts \
        --cover build/cover.png -o build/report/audiobook.json
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

from pipeline.model.contracts import (
    CheckResult,
    Finding,
    LoudnessRecord,
    could_not_run,
    read_check_result,
    read_loudness,
    read_syncmap,
    write_check_result,
    write_loudness,
)
from pipeline.model.problems import CheckFailed, InputError, display_path
from pipeline.model.sources import load_book
from pipeline.stages.audio import measure
from pipeline.stages.audiobook import Plan, expected_tags, format_length, format_size, read_plan
from pipeline.system.fsutil import file_sha256

NAME = "audiobook"
TOLERANCE_LU = 0.5
START_TOLERANCE = 0.0015      # seconds: the chapters are written in milliseconds
_MI_TIME = re.compile(r"^_(\d\d)_(\d\d)_(\d\d)_(\d\d\d)$")


def _ffprobe(path: Path) -> dict:
    exe = shutil.which("ffprobe")
    if exe is None:
        raise InputError("E-TOOL-004 ffprobe not found: install ffmpeg (Debian: apt install ffmpeg)")
    r = subprocess.run([exe, "-v", "error", "-show_chapters", "-show_streams", "-show_format", "-of", "json",
                        str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        raise InputError(f"E-M4B-008 {display_path(path)}: ffprobe cannot read it: {r.stderr.strip()[:200]}")
    return json.loads(r.stdout)


def _mediainfo(path: Path) -> dict:
    exe = shutil.which("mediainfo")
    if exe is None:
        raise InputError("E-TOOL-005 mediainfo not found: install it (Debian: apt install mediainfo)")
    r = subprocess.run([exe, "--Output=JSON", str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        raise InputError(f"E-M4B-008 {display_path(path)}: MediaInfo cannot read it: {r.stderr.strip()[:200]}")
    return json.loads(r.stdout)


def mediainfo_menus(data: dict) -> list[list[tuple[float, str]]]:
    """Every menu (chapter list) MediaInfo shows: (start in seconds, title) in order."""
    menus = []
    for track in data.get("media", {}).get("track", []):
        if track.get("@type") != "Menu":
            continue
        entries = []
        for key, value in (track.get("extra") or {}).items():
            m = _MI_TIME.match(key)
            if m:
                h, mi, s, ms = (int(g) for g in m.groups())
                title = re.sub(r"^[a-z]{2,3}:", "", value) if isinstance(value, str) else str(value)
                entries.append((h * 3600 + mi * 60 + s + ms / 1000, title))
        menus.append(sorted(entries))
    return menus


def _compare(found: list[tuple[float, str]], plan: Plan, code: str, reader: str, where: str) -> list[Finding]:
    want = [(c.start, c.title) for c in plan.chapters]
    if len(found) != len(want):
        return [Finding(code, where, f"{reader} lists {len(found)} chapters, the timeline {len(want)}")]
    out = []
    for i, ((t, title), (wt, wtitle)) in enumerate(zip(found, want, strict=True), 1):
        if title != wtitle:
            out.append(Finding(code, where, f"{reader}: chapter {i} is titled {title!r}, not {wtitle!r}"))
        if abs(t - wt) > START_TOLERANCE:
            out.append(Finding(code, where, f"{reader}: chapter {i} ({wtitle}) starts at {t:.3f} s, not {wt:.3f} s"))
    return out[:10]


def _tag_findings(path: Path, book, cover_png: bytes) -> tuple[list[Finding], list[tuple[float, str]]]:
    from mutagen.mp4 import MP4

    where = display_path(path)
    m4b = MP4(path)
    tags: dict = dict(m4b.tags or {})
    findings = []
    for key, want in expected_tags(book, cover_png).items():
        got = tags.get(key)
        if key == "covr":
            ok = isinstance(got, list) and bool(got) and bytes(got[0]) == cover_png
        elif key.startswith("----:"):
            ok = isinstance(got, list) and isinstance(want, list) and [bytes(v) for v in got] == [bytes(v) for v in want]
        else:
            ok = got == want
        if not ok:
            shown = "the cover" if key == "covr" else repr(want)
            findings.append(Finding("C-M4B-004", where, f"tag {key} is {'missing' if got is None else 'wrong'}: "
                                                        f"want {shown}"))
    chapters = [(c.start, c.title) for c in (m4b.chapters or [])]
    return findings, chapters


def audio_payload_sha256(m4b: Path) -> str:
    """SHA-256 of the M4B's audio stream as ffmpeg reads it out of the file (copied, not decoded: the AAC
    frames), so that tags and chapters, which a text edit changes, do not count."""
    exe = shutil.which("ffmpeg") or "ffmpeg"
    h = hashlib.sha256()
    with subprocess.Popen([exe, "-nostdin", "-v", "error", "-i", str(m4b), "-map", "0:a:0", "-c", "copy",
                           "-f", "adts", "-"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as proc:
        out = proc.stdout
        assert out is not None
        for block in iter(lambda: out.read(1 << 20), b""):
            h.update(block)
    if proc.returncode != 0:
        raise InputError(f"E-M4B-008 {display_path(m4b)}: ffmpeg cannot read its audio stream")
    return h.hexdigest()


def book_loudness(m4b: Path, record: Path | None) -> tuple[float, float, bool]:
    """Integrated loudness and true peak of the M4B by ffmpeg ``ebur128`` on the file as written, and whether
    they were measured now. A measurement is kept in ``record`` (a loudness record keyed by the audio
    stream's SHA-256) and trusted while the M4B's audio stream is byte-identical, as the MP3s' are: an edit
    of the text changes the chapters and tags, never the audio, and is not measured again."""
    payload = audio_payload_sha256(m4b)
    if record is not None and record.exists():
        try:
            kept: LoudnessRecord | None = read_loudness(record)
        except InputError:
            kept = None
        if kept is not None and kept.payload_sha256 == payload:
            return kept.integrated, kept.true_peak, False
    level = measure(m4b)
    if record is not None:
        write_loudness(record, LoudnessRecord(integrated=level.integrated, true_peak=level.true_peak,
                                              duration=level.duration, payload_sha256=payload))
    return level.integrated, level.true_peak, True


def check_audiobook(m4b: Path, plan_path: Path, book, cover: Path, sync_dir: Path | None = None,
                    record: Path | None = None) -> CheckResult:
    t = time.perf_counter()
    where = display_path(m4b)
    plan = read_plan(plan_path)
    findings: list[Finding] = []
    probe = _ffprobe(m4b)
    chapters = [(float(c["start_time"]), c.get("tags", {}).get("title", "")) for c in probe.get("chapters", [])]
    findings += _compare(chapters, plan, "C-M4B-001", "ffprobe", where)
    audio = [s for s in probe.get("streams", []) if s.get("codec_type") == "audio"]
    if len(audio) != 1 or audio[0].get("codec_name") != "aac" or audio[0].get("profile") != "LC" \
            or int(audio[0].get("channels", 0)) != plan.channels:
        shown = ", ".join(f"{s.get('codec_name')} {s.get('profile')} {s.get('channels')} ch" for s in audio) or "none"
        findings.append(Finding("C-M4B-002", where, f"audio tracks: {shown}; want one AAC-LC of {plan.channels} ch"))
    duration = float(probe.get("format", {}).get("duration", 0.0))
    if sync_dir is not None:
        parts = sum(read_syncmap(sync_dir / f"{p.id}.json").duration for p in plan.parts)
        if abs(duration - parts) > 0.1 * len(plan.parts):
            findings.append(Finding("C-M4B-003", where, f"lasts {duration:.2f} s, the parts {parts:.2f} s "
                                                        f"(more than 0.1 s a part apart)"))
    tag_findings, chpl = _tag_findings(m4b, book, cover.read_bytes())
    findings += tag_findings
    findings += _compare(chpl, plan, "C-M4B-005", "mutagen (Nero chpl)", where)
    menus = mediainfo_menus(_mediainfo(m4b))
    if len(menus) != 2:
        findings.append(Finding("C-M4B-006", where, f"MediaInfo shows {len(menus)} chapter menus; want 2 "
                                                    f"(the QuickTime chapter track and the Nero list)"))
    for i, menu in enumerate(menus, 1):
        findings += _compare(menu, plan, "C-M4B-006", f"MediaInfo (menu {i})", where)
    integrated, true_peak, now = book_loudness(m4b, record)
    target, ceiling = book.audio.loudness, book.audio.true_peak
    if abs(integrated - target) > TOLERANCE_LU:
        findings.append(Finding("C-M4B-007", where, f"{integrated:.1f} LUFS, target {target:.1f} ± {TOLERANCE_LU}"))
    if true_peak > ceiling:
        findings.append(Finding("C-M4B-008", where, f"true peak {true_peak:.1f} dBTP over {ceiling:.1f}"))
    summary = (f"{format_length(duration)} ({duration:.1f} s), {format_size(m4b.stat().st_size)}, "
               f"{len(plan.chapters)} chapters, {integrated:.1f} LUFS, true peak {true_peak:.1f} dBTP"
               f"{'' if now else ' (audio unchanged since measured)'}")
    return CheckResult(NAME, not findings, tuple(findings), summary, time.perf_counter() - t,
                       subject_sha256=file_sha256(m4b))


def read_audiobook_result(path: Path, m4b: Path) -> CheckResult | None:
    """The result `check-audiobook` wrote, when it is for this M4B (by SHA-256); None otherwise (check now)."""
    try:
        result = read_check_result(path, NAME)
    except InputError:
        return None
    return result if m4b.exists() and result.subject_sha256 == file_sha256(m4b) else None


def run_check(m4b: Path, plan: Path, texts: Path, cover: Path, sync_dir: Path | None,
              record: Path | None = None) -> CheckResult:
    """The check as the gate runs it: a tool missing or a file unreadable is a check that could not run."""
    t = time.perf_counter()
    try:
        return check_audiobook(m4b, plan, load_book(texts), cover, sync_dir, record)
    except InputError as e:
        return could_not_run(NAME, [Finding(p.code, p.file, p.message) for p in e.problems], time.perf_counter() - t)


def cmd_check_audiobook(args: argparse.Namespace) -> int:
    result = run_check(args.m4b, args.plan, args.texts, args.cover, args.sync, args.loudness)
    if not result.ran:
        raise CheckFailed(result.problems)
    write_check_result(args.output, result)
    print(f"audiobook: {'ok' if result.passed else 'FAIL'} {result.summary} ({result.seconds:.1f} s)")
    return 0


def register(add) -> None:
    def setup(p: argparse.ArgumentParser) -> None:
        p.add_argument("m4b", type=Path, help="the audiobook (build/site/BOOK_ID.m4b)")
        p.add_argument("--plan", type=Path, required=True, help="its plan (build/m4b/book.json)")
        p.add_argument("--texts", type=Path, default=Path("texts"))
        p.add_argument("--cover", type=Path, required=True, help="the cover it should carry (build/cover.png)")
        p.add_argument("--sync", type=Path, default=None, help="the sync maps (build/sync), for the parts' length")
        p.add_argument("--loudness", type=Path, default=None,
                       help="keep the loudness measurement here (build/m4b/loudness.json), trusted while the audio "
                            "stream is the same")
        p.add_argument("-o", "--output", type=Path, required=True, help="the result (JSON), read by `check`")

    add("check-audiobook", "read the M4B back with ffprobe, mutagen and MediaInfo, and measure it (ebur128)",
        setup, cmd_check_audiobook)
