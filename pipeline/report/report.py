"""The release report: per part, the duration, loudness and peak before and after mastering, the chapters,
the lowest alignment confidences with their sentences, every validator's result, and a timeline picture
(waveform with sentence and chapter boundaries, weak alignments shaded) so an editor sees a bad alignment
at a glance.

``python -m pipeline report texts --site output --build build -o build/report/index.html`` writes
``build/report/index.html`` (self-contained apart from ``timelines/ID.png`` beside it) and prints a short
table. The checks stage can call :func:`write_report` with its results; run alone, the page says the checks
were not run.

Everything is streamed: the timeline decodes the master at 2 kHz mono through a pipe, a chunk at a time,
into a min/max per pixel column; the MP3s are measured by ffmpeg's ebur128 (true peak, dual mono), two
at a time. The PNGs and the page depend only on their inputs (no dates), so they are reproducible.
"""
from __future__ import annotations

import argparse
import html
import json
import math
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np

from pipeline.system.ffmpeg import BASE_ARGS, ffmpeg_exe, stream_error
from pipeline.system.fsutil import atomic_path, atomic_write_text
from pipeline.model.problems import InputError, Problem, display_path
from pipeline.model.contracts import (DEVIATION_KINDS, DOUBT, ENVELOPE_HOP, SyncMap, read_audio_report, read_cuts,
                                      read_envelope, read_loudness, read_proof, read_syncmap)

LOW_CONFIDENCE = DOUBT    # fragments below this are shaded on the timeline and flagged in the report
LOWEST_SHOWN = 5
ROW_SECONDS = 300.0       # at most this much audio per row of the timeline picture
WAVE_RATE = 2000          # Hz: the rate the master is decoded at for drawing


# ---------------------------------------------------------------------------- measuring


def _measured_or_measure(mp3: Path, measured: Path) -> dict:
    """The measurement taken when the MP3 was encoded, if its audio bytes are the published ones."""
    from pipeline.stages.audio import payload_sha256

    if measured.exists():
        data = read_loudness(measured)
        if data.payload_sha256 == payload_sha256(mp3):
            try:
                import mutagen.mp3

                duration = float(mutagen.mp3.MP3(str(mp3)).info.length)
            except Exception:
                duration = data.duration
            return {"integrated": data.integrated, "true_peak": data.true_peak, "duration": duration}
    return measure_mp3(mp3)


def measure_mp3(path: Path) -> dict:
    """Integrated loudness (LUFS, dual mono), true peak (dBTP) and duration (s) of a delivered MP3.

    Loudness and true peak come from ffmpeg's ebur128 (``peak=true:dualmono=true``), the same meter the
    release checks use; the duration from the MP3's Xing/LAME header (mutagen), falling back to the
    decoded length."""
    from pipeline.stages.audio import measure

    m = measure(Path(path))
    duration = m.duration
    try:
        import mutagen.mp3

        duration = float(mutagen.mp3.MP3(str(path)).info.length)
    except Exception:  # not an MP3 mutagen can read: keep ffmpeg's decoded length
        pass
    return {"integrated": m.integrated, "true_peak": m.true_peak, "duration": duration}


# ---------------------------------------------------------------------------- timeline picture

BACKGROUND = (255, 255, 255)
WAVE = (38, 64, 110)
SENTENCE = (150, 150, 150)
CHAPTER = (200, 90, 0)
LOW_BAND = (255, 196, 196)
LOW_TEXT = (170, 0, 0)
DEVIATION = (130, 0, 170)   # the narrator's deviations from the text: purple bars under the waveform
AXIS = (60, 60, 60)
LABEL = (20, 20, 20)
CONTINUED = (110, 110, 110)

MARGIN = 10               # px left and right of the plot
LABEL_STRIP = 20          # px at the top of a row for chapter titles
AXIS_STRIP = 26           # px at the bottom of a row for the time axis
CHAPTER_WIDTH = 3
DEVIATION_BAR = 8         # px: height of a deviation's bar at the foot of the waveform
PROOF_PAD = 1.0           # s of audio either side of a deviation in the report's player


def _font(size: int):
    """Pillow's bundled font (the same on every machine, so the PNG bytes are reproducible)."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # pragma: no cover - Pillow < 10.1
        return ImageFont.load_default()




def envelope_columns(envelope: Path, duration: float, total: int) -> tuple[np.ndarray, np.ndarray]:
    """Min and max sample (-1..1) per pixel column from the aligner's envelope (.npy, int16 min/max per
    10 ms): no second decode of the master."""
    env = read_envelope(envelope)
    if not len(env):
        raise InputError(Problem(display_path(envelope), 0, "E-REPORT-002", "an empty waveform envelope"))
    # each column takes the envelope rows that begin inside it, or the one row it lies in when columns
    # are narrower than 10 ms (reduceat gives that row when the next start is not beyond it)
    first = np.minimum((np.arange(total) * (duration / total) / ENVELOPE_HOP).astype(np.int64), len(env) - 1)
    lo = (np.minimum.reduceat(env[:, 0], first) / 32768.0).astype(np.float32)
    hi = (np.maximum.reduceat(env[:, 1], first) / 32768.0).astype(np.float32)
    return lo, hi


def waveform(master: Path, duration: float, columns_per_row: int, rows: int,
             rate: int = WAVE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """Min and max sample (-1..1) per pixel column, ``rows * columns_per_row`` columns laid end to end
    over ``duration`` seconds. From the aligner's envelope when ``master`` is one (.npy); otherwise the
    master is decoded mono at ``rate`` Hz and read through a pipe in chunks, so memory does not grow
    with the length of the recording."""
    total = rows * columns_per_row
    if Path(master).suffix == ".npy":
        return envelope_columns(Path(master), duration, total)
    seconds_per_column = duration / total
    lo = np.full(total, np.inf, dtype=np.float32)
    hi = np.full(total, -np.inf, dtype=np.float32)
    chunk_bytes = 1 << 16
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([ffmpeg_exe(), *BASE_ARGS, "-v", "error", "-i", str(master), "-map", "0:a:0",
                                 "-ac", "1", "-ar", str(rate), "-f", "s16le", "-acodec", "pcm_s16le", "pipe:1"],
                                stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)
        n = 0
        carry = b""
        try:
            while True:
                data = proc.stdout.read(chunk_bytes)
                if not data:
                    break
                data = carry + data
                usable = len(data) - (len(data) % 2)
                carry = data[usable:]
                x = np.frombuffer(data[:usable], dtype="<i2").astype(np.float32) / 32768.0
                if not len(x):
                    continue
                col = ((n + np.arange(len(x))) / rate / seconds_per_column).astype(np.int64)
                n += len(x)
                np.minimum(col, total - 1, out=col)
                starts = np.concatenate(([0], np.flatnonzero(np.diff(col)) + 1))
                cols = col[starts]
                lo[cols] = np.minimum(lo[cols], np.minimum.reduceat(x, starts))
                hi[cols] = np.maximum(hi[cols], np.maximum.reduceat(x, starts))
        finally:
            proc.stdout.close()
            rc = proc.wait()
        if rc != 0:
            raise stream_error(err, master, "E-REPORT-002", "could not decode the master")
    if n == 0:
        raise InputError(Problem(display_path(master), 0, "E-REPORT-002", "could not decode the master: no audio"))
    return lo, hi


def _tick_step(row_seconds: float, plot_width: int) -> float:
    """A round tick interval giving labels at least ~90 px apart."""
    max_ticks = max(1, plot_width // 90)
    for step in (0.5, 1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if row_seconds / step <= max_ticks:
            return float(step)
    return 3600.0


def clock(t: float, decimals: int = 0) -> str:
    """Seconds as m:ss (or m:ss.s), the time format of the report."""
    if not math.isfinite(t):
        return "?"
    scale = 10 ** decimals
    total = round(t * scale)
    m, rest = divmod(total, 60 * scale)
    s = rest / scale
    return f"{m}:{s:0{3 + decimals if decimals else 2}.{decimals}f}"


def _fit(draw, text: str, font, width: float) -> str:
    """``text`` cut with an ellipsis to fit ``width`` pixels (empty if not even one letter fits)."""
    if width <= 0:
        return ""
    if draw.textlength(text, font=font) <= width:
        return text
    for n in range(len(text) - 1, 0, -1):
        cut = text[:n].rstrip() + "…"
        if draw.textlength(cut, font=font) <= width:
            return cut
    return ""


def timeline_rows(duration: float) -> int:
    return max(1, math.ceil(duration / ROW_SECONDS - 1e-9))


def timeline_png(master_flac: Path, sync: SyncMap, out_png: Path, width: int = 1600, height: int = 260) -> Path:
    """Draw the part's timeline: one row (``height`` px) per up to five minutes, rows of equal length.

    Each row: chapter titles at the top, the waveform (min/max per pixel, full scale = 0 dBFS), sentence
    boundaries as thin grey lines, chapter boundaries as thick orange lines, fragments with confidence
    below 0.6 shaded red with their sentence number, the narrator's deviations from the text as purple
    bars at the foot of the waveform (a skipped sentence as a purple line), and a time axis in
    minutes:seconds underneath.
    The image is ``width`` x ``rows * height`` pixels."""
    from PIL import Image, ImageDraw

    duration = max(sync.duration, max((f.end for f in sync.fragments), default=0.0))
    if duration <= 0:
        raise InputError(Problem(display_path(out_png), 0, "E-REPORT-003", f"sync map of {sync.part} has no duration"))
    rows = timeline_rows(duration)
    plot_w = width - 2 * MARGIN
    row_seconds = duration / rows
    spc = row_seconds / plot_w          # seconds per pixel column
    lo, hi = waveform(Path(master_flac), duration, plot_w, rows)

    img = Image.new("RGB", (width, rows * height), BACKGROUND)
    draw = ImageDraw.Draw(img)
    font = _font(13)
    small = _font(11)
    wave_top, wave_bottom = LABEL_STRIP + 2, height - AXIS_STRIP - 2
    mid = (wave_top + wave_bottom) / 2
    half = (wave_bottom - wave_top) / 2

    def x_of(t: float, row: int) -> float:
        return MARGIN + (t - row * row_seconds) / spc

    step = _tick_step(row_seconds, plot_w)
    for r in range(rows):
        y0 = r * height
        t0, t1 = r * row_seconds, (r + 1) * row_seconds
        # weak alignments: a red band behind the waveform
        for f in sync.fragments:
            conf = f.confidence
            if conf is None or conf >= LOW_CONFIDENCE or f.end <= t0 or f.begin >= t1:
                continue
            xa = max(MARGIN, x_of(f.begin, r))
            xb = min(MARGIN + plot_w - 1, x_of(f.end, r))
            xb = max(xb, xa + 1)
            draw.rectangle([round(xa), y0 + wave_top, round(xb), y0 + wave_bottom], fill=LOW_BAND)
            label = f.id.rsplit("-", 1)[-1] + f" {conf:.2f}"
            if xb - xa > draw.textlength(label, font=small) + 4:
                draw.text((round(xa) + 2, y0 + wave_top + 1), label, font=small, fill=LOW_TEXT)
        # the waveform
        seg_lo = lo[r * plot_w:(r + 1) * plot_w]
        seg_hi = hi[r * plot_w:(r + 1) * plot_w]
        for c in range(plot_w):
            if not math.isfinite(seg_lo[c]):
                continue
            ya = y0 + mid - float(np.clip(seg_hi[c], -1, 1)) * half
            yb = y0 + mid - float(np.clip(seg_lo[c], -1, 1)) * half
            draw.line([(MARGIN + c, round(ya)), (MARGIN + c, round(yb))], fill=WAVE)
        # sentence boundaries (each fragment's begin, except where a chapter begins)
        chapter_starts = {round(c.begin, 3) for c in sync.chapters}
        for f in sync.fragments[1:]:
            b = f.begin
            if t0 < b < t1 and round(b, 3) not in chapter_starts:
                x = round(x_of(b, r))
                draw.line([(x, y0 + wave_top), (x, y0 + wave_bottom)], fill=SENTENCE)
        # deviations from the text: a bar under the waveform over the stretch, a line where a sentence was skipped
        for d in sync.deviations:
            b, e = d.begin, d.end
            if e < t0 or b >= t1 or (e == t0 and e > b):
                continue
            xa = max(MARGIN, round(x_of(b, r)))
            xb = min(MARGIN + plot_w - 1, max(round(x_of(e, r)), xa + 2))
            draw.rectangle([xa, y0 + wave_bottom - DEVIATION_BAR, xb, y0 + wave_bottom], fill=DEVIATION)
            if e <= b:
                draw.rectangle([xa, y0 + wave_top, min(xa + 1, MARGIN + plot_w - 1), y0 + wave_bottom], fill=DEVIATION)
        # chapters: thick line and title (cut to the space before the next chapter)
        chapters = sorted(sync.chapters, key=lambda c: c.begin)
        for i, c in enumerate(chapters):
            b = c.begin
            nxt = chapters[i + 1].begin if i + 1 < len(chapters) else math.inf
            if b < t0 < nxt:
                # the chapter continues from the row before: its title in grey at the row's start
                room = min(x_of(nxt, r), MARGIN + plot_w) - MARGIN - 8
                text = _fit(draw, "… " + c.title, font, room)
                if text:
                    draw.text((MARGIN + 2, y0 + 3), text, font=font, fill=CONTINUED)
                continue
            if not t0 <= b < t1:
                continue
            x = round(x_of(b, r))
            x_line = max(MARGIN, x - CHAPTER_WIDTH // 2)
            draw.rectangle([x_line, y0 + 2, x_line + CHAPTER_WIDTH - 1, y0 + wave_bottom], fill=CHAPTER)
            room = min(x_of(nxt, r), MARGIN + plot_w) - x_line - CHAPTER_WIDTH - 8
            text = _fit(draw, c.title, font, room)
            if text:
                draw.text((x_line + CHAPTER_WIDTH + 3, y0 + 3), text, font=font, fill=LABEL)
        # time axis
        ya = y0 + height - AXIS_STRIP
        draw.line([(MARGIN, ya), (MARGIN + plot_w - 1, ya)], fill=AXIS)
        k = math.ceil(t0 / step - 1e-9)
        while k * step <= t1 + 1e-9:
            t = k * step
            x = min(round(x_of(t, r)), MARGIN + plot_w - 1)
            draw.line([(x, ya), (x, ya + 5)], fill=AXIS)
            label = clock(t, 1 if step < 1 else 0)
            tw = draw.textlength(label, font=small)
            tx = min(max(MARGIN, x - tw / 2), MARGIN + plot_w - tw)
            draw.text((round(tx), ya + 7), label, font=small, fill=AXIS)
            k += 1
        if r + 1 < rows:
            draw.line([(0, y0 + height - 1), (width - 1, y0 + height - 1)], fill=(225, 225, 225))

    with atomic_path(out_png) as tmp:
        img.save(tmp, format="PNG", optimize=False, compress_level=6)
    return Path(out_png)


def alt_text(part_title: str, chapters: int, sentences: int, low: int, deviations: int = 0) -> str:
    return (f"Timeline of {part_title}: {chapters} chapter{'s' if chapters != 1 else ''}, "
            f"{sentences} sentence{'s' if sentences != 1 else ''}, {low} below {LOW_CONFIDENCE} confidence"
            + (f", {deviations} deviation{'s' if deviations != 1 else ''} from the text" if deviations else ""))


# ---------------------------------------------------------------------------- collecting


def collect_parts(book, site: Path, build: Path, timelines: Path | None = None, progress=None) -> list[dict]:
    """The report's facts for every narrated part, from ``build/audio/ID.json`` (the master stage's
    measurements), ``build/sync/ID.json`` and ``site/audio/ID.mp3`` (measured now, two at a time), with
    each part's timeline drawn into ``timelines`` (default ``build/report/timelines``)."""
    site, build = Path(site), Path(build)
    timelines = Path(timelines) if timelines else build / "report" / "timelines"
    parts = list(book.narrated_parts)
    # with [audio] cut_retakes the published audio is the cut master's, and its cuts are listed
    cut = bool(getattr(getattr(book, "audio", None), "cut_retakes", False))
    masters = build / ("cut" if cut else "master")
    missing = []
    for p in parts:
        for f in (build / "audio" / f"{p.id}.json", build / "sync" / f"{p.id}.json",
                  masters / f"{p.id}.flac", site / "audio" / f"{p.id}.mp3",
                  *([build / "cut" / f"{p.id}.json"] if cut else [])):
            if not f.exists():
                missing.append(Problem(display_path(f), 0, "E-REPORT-001", f"not found (build part '{p.id}' first)"))
    if missing:
        raise InputError(missing)
    say = progress or (lambda msg: None)
    out: list[dict] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {p.id: pool.submit(_measured_or_measure, site / "audio" / f"{p.id}.mp3",
                                     build / "loudness" / f"{p.id}.json") for p in parts}
        # the timelines are drawn here while the pool measures, unless the `timeline` stage drew them
        for i, p in enumerate(parts, 1):
            sync_path, master = build / "sync" / f"{p.id}.json", masters / f"{p.id}.flac"
            sync = read_syncmap(sync_path)
            png = timelines / f"{p.id}.png"
            if not _fresh(png, sync_path, master):
                # the aligner's envelope of this master when it has one, else the master itself
                env = build / "waveform" / f"{p.id}.npy"
                timeline_png(env if _fresh(env, master) else master, sync, png)
                say(f"timeline {i}/{len(parts)}: {p.id}")
            facts = read_audio_report(build / "audio" / f"{p.id}.json")
            frags = sync.fragments
            scored = [(f, f.confidence) for f in frags if f.confidence is not None]
            lowest = sorted(scored, key=lambda fc: (fc[1], fc[0].begin))[:LOWEST_SHOWN]
            a, plan = facts.analysis, facts.plan
            out.append({
                "id": p.id,
                "title": p.title,
                "duration": None,
                "before": {"integrated": a.integrated, "peak": a.peak_db},
                "after": None,
                "chapters": [{"title": c.title, "begin": c.begin} for c in sync.chapters],
                "lowest": [{"id": f.id, "text": f.text, "confidence": conf, "begin": f.begin} for f, conf in lowest],
                "sentences": len(frags),
                "low": sum(1 for _, conf in scored if conf < LOW_CONFIDENCE),
                "recording": {"source": a.source, "duration": a.duration, "trim_start": plan.trim_start,
                              "trim_end": plan.trim_end, "gain_db": plan.gain_db, "limiter": plan.limiter},
                "timeline": f"{timelines.name}/{p.id}.png",
                "mp3": str(site / "audio" / f"{p.id}.mp3"),
                "deviations": len(sync.deviations),
                "proof": _proof(build / "proof" / f"{p.id}.json"),
                "cuts": _cuts(build / "cut" / f"{p.id}.json", plan.trim_start) if cut else None,
            })
        for i, item in enumerate(out, 1):
            m = futures[item["id"]].result()
            item["duration"] = m["duration"]
            item["after"] = {"integrated": m["integrated"], "true_peak": m["true_peak"]}
            say(f"measured {i}/{len(out)}: {item['id']}")
    return out


def _proof(path: Path) -> dict | None:
    """The proof stage's result for a part (its deviations with their ``accepted`` flags), or None when
    the part was not proofed (or its result cannot be read: the release gate reports that)."""
    try:
        data = asdict(read_proof(path))
    except InputError:
        return None
    if data["cuts"] is None:
        del data["cuts"]
    return data


def _cuts(path: Path, trim_start: float) -> dict:
    """The cut stage's list for a part: the cuts (with their place in the recording) and the retakes kept."""
    listed = read_cuts(path)
    cuts = [dict(asdict(c), recording_begin=c.begin + trim_start, recording_end=c.end + trim_start)
            for c in listed.cuts]
    return {"cuts": cuts, "kept": [asdict(k) for k in listed.kept], "removed": listed.removed,
            "list": display_path(path)}


def _fresh(out: Path, *inputs: Path) -> bool:
    """``out`` exists and is no older than any of ``inputs``."""
    try:
        t = out.stat().st_mtime_ns
    except FileNotFoundError:
        return False
    return all(i.stat().st_mtime_ns <= t for i in inputs)


# ---------------------------------------------------------------------------- writing

CSS = """
:root { color-scheme: light dark; --fg: #111; --bg: #fff; --muted: #444; --line: #bbb; --bad: #a00000;
        --ok: #0a5a0a; --head: #eef1f6; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #eee; --bg: #121212; --muted: #c8c8c8; --line: #555; --bad: #ff9a9a; --ok: #8fe08f;
          --head: #23272e; }
}
body { font-family: system-ui, sans-serif; color: var(--fg); background: var(--bg); margin: 0 auto;
       max-width: 1640px; padding: 1rem 1.25rem 3rem; line-height: 1.5; font-size: 1rem; }
h1 { font-size: 1.8rem; } h2 { font-size: 1.4rem; margin-top: 2.5rem; } h3 { font-size: 1.1rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
caption { text-align: left; font-weight: bold; padding: 0.25rem 0; }
th, td { border: 1px solid var(--line); padding: 0.25rem 0.6rem; vertical-align: top; text-align: left; }
thead th { background: var(--head); }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.bad { color: var(--bad); font-weight: bold; }
.ok { color: var(--ok); font-weight: bold; }
figure { margin: 0.5rem 0 1rem; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); background: #fff; }
figcaption, .muted { color: var(--muted); }
.scroll { overflow-x: auto; }
audio { width: 16rem; max-width: 100%; vertical-align: middle; }
"""


def _e(s) -> str:
    return html.escape(str(s), quote=True)


def _num(v, fmt: str = ".1f") -> str:
    if v is None:
        return "–"
    v = float(v)
    if math.isinf(v):
        return "−∞" if v < 0 else "∞"
    return format(v, fmt).replace("-", "−")


def _targets(book) -> tuple[float, float]:
    audio = getattr(book, "audio", None)
    return float(getattr(audio, "loudness", -16.0)), float(getattr(audio, "true_peak", -1.0))


def _within(part: dict, loudness: float, true_peak: float, tolerance: float = 0.5) -> bool | None:
    after = part.get("after") or {}
    i, tp = after.get("integrated"), after.get("true_peak")
    if i is None or tp is None:
        return None
    return abs(float(i) - loudness) <= tolerance and float(tp) <= true_peak


def write_report(report_dir: Path, book, parts: list[dict], checks: list[dict]) -> str:
    """Write ``report_dir/index.html`` and return a short plain-text table for the terminal."""
    report_dir = Path(report_dir)
    loudness, true_peak = _targets(book)
    title = f"Release report: {getattr(book, 'title', 'the book')}"
    lang = getattr(book, "language", "en") or "en"
    failed = [c for c in checks if not c.get("ok")]
    out_of_target = [p for p in parts if _within(p, loudness, true_peak) is False]
    total = sum(float(p.get("duration") or 0) for p in parts)

    h: list[str] = []
    w = h.append
    w("<!DOCTYPE html>")
    w(f'<html lang="{_e(lang)}">')
    w("<head>")
    w('<meta charset="utf-8">')
    w('<meta name="viewport" content="width=device-width, initial-scale=1">')
    w(f"<title>{_e(title)}</title>")
    w(f"<style>{CSS}</style>")
    w("</head>")
    w("<body>")
    w("<header>")
    w(f"<h1>{_e(title)}</h1>")
    if not checks:
        verdict = "Checks not run."
    elif failed:
        verdict = f"{len(failed)} of {len(checks)} checks failed."
    else:
        verdict = f"All {len(checks)} checks passed."
    w(f"<p>{len(parts)} narrated part{'s' if len(parts) != 1 else ''}, {_e(clock(total))} of audio in all. "
      f"{_e(verdict)} "
      + (f'<span class="bad">{len(out_of_target)} part{"s" if len(out_of_target) != 1 else ""} outside the '
         f"audio targets.</span>" if out_of_target else
         f"Every part within the audio targets ({_num(loudness)} LUFS ± 0.5 LU, true peak at most "
         f"{_num(true_peak)} dBTP).")
      + "</p>")
    w("<nav aria-label=\"Parts\"><ul>" + "".join(
        f'<li><a href="#{_e(p["id"])}">{_e(p["title"])}</a></li>' for p in parts) + "</ul></nav>")
    w("</header>")
    w("<main>")

    # checks
    w('<section aria-labelledby="checks"><h2 id="checks">Checks</h2>')
    if not checks:
        w("<p><strong>Checks not run.</strong> Run <code>python -m pipeline check output/</code> to validate the "
          "site (EPUBCheck, Ace, axe, feed rules, loudness, links).</p>")
    else:
        w('<div class="scroll"><table>')
        w("<caption>Validator results</caption>")
        w('<thead><tr><th scope="col">Check</th><th scope="col">Result</th><th scope="col">Summary</th>'
          '<th scope="col">Problems</th></tr></thead><tbody>')
        for c in checks:
            ok = bool(c.get("ok"))
            problems = [str(x) for x in c.get("problems") or []]
            cell = ("<ul>" + "".join(f"<li>{_e(x)}</li>" for x in problems) + "</ul>") if problems else "none"
            w(f'<tr><th scope="row">{_e(c.get("name", "?"))}</th>'
              f'<td class="{"ok" if ok else "bad"}">{"pass" if ok else "FAIL"}</td>'
              f"<td>{_e(c.get('summary', ''))}</td><td>{cell}</td></tr>")
        w("</tbody></table></div>")
    w("</section>")

    # the audio summary
    w('<section aria-labelledby="audio"><h2 id="audio">Audio</h2>')
    w('<div class="scroll"><table>')
    w(f"<caption>Duration, loudness and peak of each part before and after mastering (target "
      f"{_e(_num(loudness))} LUFS ± 0.5 LU, true peak at most {_e(_num(true_peak))} dBTP)</caption>")
    w('<thead><tr><th scope="col">Part</th><th scope="col">Duration</th>'
      '<th scope="col">Loudness before (LUFS)</th><th scope="col">Sample peak before (dBFS)</th>'
      '<th scope="col">Loudness after (LUFS)</th><th scope="col">True peak after (dBTP)</th>'
      '<th scope="col">Within targets</th><th scope="col">Chapters</th>'
      f'<th scope="col">Sentences below {LOW_CONFIDENCE}</th><th scope="col">Lowest confidence</th></tr></thead><tbody>')
    for p in parts:
        before, after = p.get("before") or {}, p.get("after") or {}
        ok = _within(p, loudness, true_peak)
        okcell = ('<td class="ok">yes</td>' if ok else '<td class="bad">no</td>' if ok is False else "<td>–</td>")
        lowest = p.get("lowest") or []
        low = p.get("low")
        w(f'<tr><th scope="row"><a href="#{_e(p["id"])}">{_e(p["title"])}</a></th>'
          f'<td class="num">{_e(clock(float(p["duration"])) if p.get("duration") is not None else "–")}</td>'
          f'<td class="num">{_num(before.get("integrated"))}</td><td class="num">{_num(before.get("peak"))}</td>'
          f'<td class="num">{_num(after.get("integrated"))}</td><td class="num">{_num(after.get("true_peak"))}</td>'
          f"{okcell}<td class=\"num\">{len(p.get('chapters') or [])}</td>"
          f'<td class="num">{"–" if low is None else low}</td>'
          f'<td class="num">{_num(lowest[0]["confidence"], ".2f") if lowest else "–"}</td></tr>')
    w("</tbody></table></div>")
    w("</section>")

    # per part
    for p in parts:
        pid, ptitle = p["id"], p["title"]
        chapters = p.get("chapters") or []
        lowest = p.get("lowest") or []
        w(f'<section aria-labelledby="{_e(pid)}"><h2 id="{_e(pid)}">{_e(ptitle)}</h2>')
        facts = [f"Duration {clock(float(p['duration']), 1)}" if p.get("duration") is not None else None]
        rec = p.get("recording") or {}
        if rec.get("trim_start") is not None and rec.get("duration") is not None:
            tail = float(rec["duration"]) - float(rec["trim_end"])
            facts.append(f"recording {display_name(rec.get('source'))}{clock(float(rec['duration']), 1)}, "
                         f"trimmed {float(rec['trim_start']):.2f} s at the head and {tail:.2f} s at the tail")
        if rec.get("gain_db") is not None:
            facts.append(f"gain {float(rec['gain_db']):+.2f} dB".replace("-", "−")
                         + (", limiter on" if rec.get("limiter") else ", no limiter"))
        w(f"<p>{_e('; '.join(x for x in facts if x))}.</p>")
        if p.get("timeline"):
            alt = alt_text(ptitle, len(chapters), int(p.get("sentences") or 0), int(p.get("low") or 0),
                           int(p.get("deviations") or 0))
            w(f'<figure><a href="{_e(p["timeline"])}"><img src="{_e(p["timeline"])}" alt="{_e(alt)}"></a>'
              f"<figcaption>Timeline: waveform of the master; thin grey lines are sentence boundaries, thick "
              f"orange lines chapters (titled above), red bands sentences aligned with confidence below "
              f"{LOW_CONFIDENCE} (sentence number and confidence in the band)"
              + (", purple bars under the waveform the narrator's deviations from the text (a purple line "
                 "where a sentence was skipped)" if p.get("deviations") else "")
              + ".</figcaption></figure>")
        w("<div class=\"scroll\"><table>")
        w(f"<caption>Chapters of {_e(ptitle)}</caption>")
        w('<thead><tr><th scope="col">Begins</th><th scope="col">Title</th></tr></thead><tbody>')
        for c in chapters:
            w(f'<tr><td class="num">{_e(clock(float(c["begin"]), 1))}</td><th scope="row">{_e(c["title"])}</th></tr>')
        w("</tbody></table></div>")
        w('<div class="scroll"><table>')
        w(f"<caption>The {len(lowest)} lowest alignment confidences in {_e(ptitle)}</caption>")
        w('<thead><tr><th scope="col">Sentence</th><th scope="col">Begins</th><th scope="col">Confidence</th>'
          '<th scope="col">Text</th></tr></thead><tbody>')
        for f in lowest:
            conf = float(f["confidence"])
            cls = "num bad" if conf < LOW_CONFIDENCE else "num"
            w(f'<tr><th scope="row">{_e(f["id"])}</th><td class="num">{_e(clock(float(f["begin"]), 1))}</td>'
              f'<td class="{cls}">{conf:.2f}</td><td>{_e(f.get("text", ""))}</td></tr>')
        w("</tbody></table></div>")
        _cuts_section(w, p)
        _proof_section(w, p, report_dir)
        w("</section>")

    w("</main>")
    w("</body>")
    w("</html>")
    atomic_write_text(report_dir / "index.html", "\n".join(h) + "\n")
    return terminal_table(parts, checks, loudness, true_peak)


def _span(d: dict, decimals: int = 1) -> str:
    b, e = float(d["begin"]), float(d["end"])
    return clock(b, decimals) if e <= b else f"{clock(b, decimals)}–{clock(e, decimals)}"


def media_fragment(d: dict, duration: float | None, pad: float = PROOF_PAD) -> str:
    """``#t=begin,end`` for the stretch of a deviation with ``pad`` seconds either side (for a skip, the
    seconds around the place), in the published MP3's timeline (the master's)."""
    b = max(0.0, float(d["begin"]) - pad)
    e = float(d["end"]) + pad
    if duration:
        e = min(e, float(duration))
    return f"#t={b:.2f},{max(e, b):.2f}"


def _cuts_section(w, p: dict) -> None:
    """With ``[audio] cut_retakes``: the false starts cut out of the part's audio (where the join is in the
    published MP3, how much was removed, the sentence, where it was in the recording) and any kept."""
    data = p.get("cuts")
    if data is None:
        return
    pid, ptitle = p["id"], p["title"]
    cuts, kept = data.get("cuts") or [], data.get("kept") or []
    w(f'<section aria-labelledby="{_e(pid)}-cuts"><h3 id="{_e(pid)}-cuts">Retakes cut from {_e(ptitle)}</h3>')
    if not cuts:
        w("<p>No false starts were cut from this part.</p>")
    else:
        w(f"<p>{len(cuts)} cut{'s' if len(cuts) != 1 else ''}, {data.get('removed', 0.0):.2f} s removed in all "
          f"(list: <code>{_e(data.get('list', ''))}</code>).</p>")
        w('<div class="scroll"><table>')
        w(f"<caption>False starts cut from {_e(ptitle)} (time of the join in the published MP3)</caption>")
        w('<thead><tr><th scope="col">Time</th><th scope="col">Removed (s)</th><th scope="col">Sentence</th>'
          '<th scope="col">Text</th><th scope="col">In the recording</th></tr></thead><tbody>')
        for c in cuts:
            w(f'<tr><td class="num">{_e(clock(float(c.get("at", c["begin"])), 1))}</td>'
              f'<td class="num">{float(c["duration"]):.2f}</td><th scope="row">{_e(c.get("fragment", ""))}</th>'
              f'<td>{_e(c.get("text", ""))}</td>'
              f'<td class="num">{_e(clock(c["recording_begin"], 1))}–{_e(clock(c["recording_end"], 1))}</td></tr>')
        w("</tbody></table></div>")
    if kept:
        w("<p>Retakes kept in the audio (they stay in the proof below): "
          + "; ".join(f"{_e(k.get('fragment', ''))} at {_e(clock(float(k['begin']), 1))}: {_e(k.get('reason', ''))}"
                      for k in kept) + ".</p>")
    w("</section>")


def cuts_line(parts: list[dict]) -> list[str]:
    """The terminal's line on the cuts (only with ``[audio] cut_retakes``)."""
    cut = [p for p in parts if p.get("cuts") is not None]
    if not cut:
        return []
    n = sum(len(p["cuts"]["cuts"]) for p in cut)
    removed = sum(float(p["cuts"].get("removed") or 0.0) for p in cut)
    each = ", ".join(f"{p['id']} {len(p['cuts']['cuts'])}" for p in cut if p["cuts"]["cuts"])
    kept = sum(len(p["cuts"].get("kept") or []) for p in cut)
    return [f"cuts: {n} false start(s) cut, {removed:.1f} s removed" + (f" ({each})" if each else "")
            + (f"; {kept} retake(s) kept" if kept else "")]


def _proof_section(w, p: dict, report_dir: Path) -> None:
    """The part's proof: each deviation from the text not yet accepted, with a player for just its
    stretch; the accepted ones; where the Audacity labels are and how to accept one."""
    pid, ptitle, data = p["id"], p["title"], p.get("proof")
    w(f'<section aria-labelledby="{_e(pid)}-proof"><h3 id="{_e(pid)}-proof">Proof of {_e(ptitle)}</h3>')
    if data is None:
        w("<p>Not proofed: run <code>python -m pipeline proof</code> on its sync map "
          "(<code>make check</code> does).</p></section>")
        return
    devs = data.get("deviations") or []
    open_, accepted = [d for d in devs if not d.get("accepted")], [d for d in devs if d.get("accepted")]
    if not devs:
        w("<p>The narration follows the text: no deviations found.</p>")
    else:
        by_kind = {}
        for d in open_:
            by_kind[d["kind"]] = by_kind.get(d["kind"], 0) + 1
        kinds = ", ".join(f"{n} {k}" for k, n in by_kind.items())
        w(f"<p>{len(open_)} deviation{'s' if len(open_) != 1 else ''} from the text not accepted"
          + (f" ({_e(kinds)})" if kinds else "") + f", {len(accepted)} accepted.</p>")
    if open_:
        mp3 = p.get("mp3")
        src = Path(os.path.relpath(mp3, report_dir)).as_posix() if mp3 else None
        w('<div class="scroll"><table>')
        w(f"<caption>Deviations from the text in {_e(ptitle)} not accepted (times in the published MP3)</caption>")
        w('<thead><tr><th scope="col">Sentence</th><th scope="col">Kind</th><th scope="col">Time</th>'
          '<th scope="col">Text</th><th scope="col">Confidence</th><th scope="col">Listen</th></tr></thead><tbody>')
        for d in open_:
            conf = d.get("confidence")
            player = "–"
            if src:
                url = src + media_fragment(d, p.get("duration"))
                player = (f'<audio controls preload="none" src="{_e(url)}" '
                          f'aria-label="{_e(d["kind"])} at {_e(_span(d))}, {_e(d["fragment"])}">'
                          f'<a href="{_e(url)}">Play {_e(_span(d))}</a></audio>')
            w(f'<tr><th scope="row">{_e(d["fragment"])}</th><td>{_e(d["kind"])}</td>'
              f'<td class="num">{_e(_span(d))}</td><td>{_e(d.get("text", ""))}</td>'
              f'<td class="num">{"–" if conf is None else f"{float(conf):.2f}"}</td><td>{player}</td></tr>')
        w("</tbody></table></div>")
    if accepted:
        w('<div class="scroll"><table>')
        w(f"<caption>Deviations from the text in {_e(ptitle)} accepted</caption>")
        w('<thead><tr><th scope="col">Sentence</th><th scope="col">Kind</th><th scope="col">Time</th>'
          '<th scope="col">Text</th></tr></thead><tbody>')
        for d in accepted:
            w(f'<tr><th scope="row">{_e(d["fragment"])}</th><td>{_e(d["kind"])} (accepted)</td>'
              f'<td class="num">{_e(_span(d))}</td><td>{_e(d.get("text", ""))}</td></tr>')
        w("</tbody></table></div>")
    labels, rec, accept = data.get("labels", ""), data.get("recording", ""), data.get("accept_file", "")
    w(f"<p>Audacity labels of the deviations not accepted: <code>{_e(labels)}</code>"
      + (f", to import over the recording <code>{_e(rec)}</code>" if rec else "")
      + " (File › Import › Labels; its times are the recording’s). To accept one, copy its line into "
      + (f"<code>{_e(accept)}</code>" if accept else "the part’s label file")
      + " and put <code>accept</code> before its label, as in <code>"
      + _e(f"accept {open_[0]['label']}" if open_ else "accept KIND FRAGMENT-ID: a note") + "</code>.</p>")
    w("</section>")


def proof_table(parts: list[dict]) -> list[str]:
    """The terminal's proof lines: per part the deviations not accepted by kind, their total and how
    many were accepted; then all parts."""
    proofed = [p for p in parts if p.get("proof") is not None]
    if not proofed:
        return ["proof: not run"]
    head = ("proof", *DEVIATION_KINDS, "total", "accepted")
    rows, sums = [head], [0] * (len(DEVIATION_KINDS) + 2)
    for p in proofed:
        devs = p["proof"].get("deviations") or []
        n = [sum(1 for d in devs if d.get("kind") == k and not d.get("accepted")) for k in DEVIATION_KINDS]
        n += [sum(n), sum(1 for d in devs if d.get("accepted"))]
        sums = [a + b for a, b in zip(sums, n)]
        rows.append((p["id"], *map(str, n)))
    rows.append(("all parts", *map(str, sums)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)).rstrip()
             for r in rows]
    missing = [p["id"] for p in parts if p.get("proof") is None]
    if missing:
        lines.append(f"proof: not run for {', '.join(missing)}")
    return lines


def display_name(source) -> str:
    return f"{Path(str(source)).name} " if source else ""


def terminal_table(parts: list[dict], checks: list[dict], loudness: float = -16.0, true_peak: float = -1.0) -> str:
    head = ("part", "time", "LUFS in", "peak in", "LUFS out", "TP out", "ok", "chap", "low", "lowest")
    rows = [head]
    for p in parts:
        before, after = p.get("before") or {}, p.get("after") or {}
        lowest = p.get("lowest") or []
        ok = _within(p, loudness, true_peak)
        low = lowest[0] if lowest else None
        rows.append((
            p["id"], clock(float(p["duration"])) if p.get("duration") is not None else "-",
            _plain(before.get("integrated")), _plain(before.get("peak")),
            _plain(after.get("integrated")), _plain(after.get("true_peak")),
            {True: "yes", False: "NO", None: "-"}[ok], str(len(p.get("chapters") or [])),
            "-" if p.get("low") is None else str(p["low"]),
            f"{float(low['confidence']):.2f} {low['id'].rsplit('-', 1)[-1]}" if low else "-",
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)).rstrip()
             for r in rows]
    lines += cuts_line(parts)
    lines += proof_table(parts)
    if not checks:
        lines.append("checks: not run")
    else:
        for c in checks:
            lines.append(f"{'pass' if c.get('ok') else 'FAIL'}  {c.get('name', '?')}: {c.get('summary', '')}")
    return "\n".join(lines)


def _plain(v) -> str:
    if v is None:
        return "-"
    v = float(v)
    return ("-inf" if v < 0 else "inf") if math.isinf(v) else f"{v:.1f}"


# ---------------------------------------------------------------------------- stage


def cmd_report(args: argparse.Namespace) -> int:
    from pipeline.model.sources import load_book

    book = load_book(args.texts)
    report_dir = args.output.parent
    verbose = getattr(args, "verbose", False)

    def progress(msg: str) -> None:
        print(f"report: {msg}", file=sys.stderr, flush=True)

    parts = collect_parts(book, args.site, args.build, timelines=report_dir / "timelines",
                          progress=progress if (verbose or sys.stderr.isatty()) else None)
    checks = _read_checks(args.checks) if args.checks else []
    table = write_report(report_dir, book, parts, checks)
    print(table)
    print(f"report: {display_path(report_dir / 'index.html')}")
    return 0


def _read_checks(path: Path) -> list[dict]:
    """The checks stage's results (a JSON list of {name, ok, summary, problems}); none if not run yet."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(Problem(display_path(path), 0, "E-REPORT-005", f"not valid JSON: {e}")) from None
    if not isinstance(data, list) or not all(isinstance(c, dict) and "name" in c and "ok" in c for c in data):
        raise InputError(Problem(display_path(path), 0, "E-REPORT-005",
                                 "expected a list of checks, each with 'name', 'ok', 'summary' and 'problems'"))
    return data


def cmd_timeline(args: argparse.Namespace) -> int:
    timeline_png(args.master, read_syncmap(args.sync), args.output)
    return 0


def register(add) -> None:
    def setup_timeline(p: argparse.ArgumentParser) -> None:
        p.add_argument("master", type=Path,
                       help="the part's master FLAC (build/master/ID.flac), or its envelope from align --waveform (.npy)")
        p.add_argument("sync", type=Path, help="the part's sync map (build/sync/ID.json)")
        p.add_argument("-o", "--output", type=Path, required=True, help="the picture (build/report/timelines/ID.png)")

    add("timeline", "draw one part's timeline for the report (waveform, sentences, chapters, weak alignments)",
        setup_timeline, cmd_timeline)

    def setup(p: argparse.ArgumentParser) -> None:
        p.add_argument("texts", type=Path, help="the texts/ folder (book.toml and the parts)")
        p.add_argument("--site", type=Path, default=Path("output"), help="the built site (audio/ID.mp3)")
        p.add_argument("--build", type=Path, default=Path("build"),
                       help="the build folder (audio/ID.json, sync/ID.json, master/ID.flac)")
        p.add_argument("-o", "--output", type=Path, default=Path("build/report/index.html"),
                       help="the report page; timelines/ID.png are written beside it")
        p.add_argument("--checks", type=Path, default=None,
                       help="the check stage's results (JSON list); without it the page says the checks were not run")

    add("report", "write the release report (loudness, chapters, weakest alignments, timelines)", setup, cmd_report)
