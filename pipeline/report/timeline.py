"""The release report's timeline picture of a part: the waveform with sentence and chapter boundaries,
weak alignments shaded and the narrator's deviations marked, so an editor sees a bad alignment at a glance.

``python -m pipeline timeline MASTER SYNC -o PNG`` draws one; the report stage draws the ones that are
missing or stale. The waveform comes from the aligner's envelope (``align --waveform``, min/max per 10 ms)
when there is one, else the master is decoded at 2 kHz mono through a pipe, a chunk at a time, into a
min/max per pixel column. The PNG depends only on its inputs (Pillow's bundled font, no dates), so it is
reproducible.
"""
from __future__ import annotations

import math
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipeline.model.contracts import DOUBT, ENVELOPE_HOP, SyncMap, read_envelope
from pipeline.model.problems import InputError, Problem, display_path
from pipeline.system.ffmpeg import BASE_ARGS, ffmpeg_exe, stream_error
from pipeline.system.fsutil import atomic_path

LOW_CONFIDENCE = DOUBT    # fragments below this are shaded on the timeline and flagged in the report
ROW_SECONDS = 300.0       # at most this much audio per row of the timeline picture
WAVE_RATE = 2000          # Hz: the rate the master is decoded at for drawing

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


def _font(size: int):
    """Pillow's bundled font (the same on every machine, so the PNG bytes are reproducible)."""
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
        assert proc.stdout is not None      # stdout=PIPE
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
        for col in range(plot_w):
            if not math.isfinite(seg_lo[col]):
                continue
            ya = y0 + mid - float(np.clip(seg_hi[col], -1, 1)) * half
            yb = y0 + mid - float(np.clip(seg_lo[col], -1, 1)) * half
            draw.line([(MARGIN + col, round(ya)), (MARGIN + col, round(yb))], fill=WAVE)
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
