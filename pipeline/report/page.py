"""The release report's page: its view of the facts, rendered by jinja2 from ``pipeline/templates/report-*.html``.

The templates hold every word and tag of the page (autoescaped, ``StrictUndefined``); this module only
prepares what they show: per part, whether it is within the audio targets, its links relative to the
page, the deviations not accepted and accepted, and a player address for each. The page depends only on
its inputs (no dates), so it is reproducible.
"""
from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2

from pipeline.model.contracts import CheckResult, ProofDeviation
from pipeline.report.facts import PartFacts
from pipeline.report.timeline import LOW_CONFIDENCE, clock

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
TOLERANCE = 0.5           # LU either side of the loudness target
PROOF_PAD = 1.0           # s of audio either side of a deviation in the report's player


@dataclass(frozen=True)
class PartView:
    facts: PartFacts
    within: bool | None                       # within the audio targets; None when not measured
    timeline: str | None                      # the picture, relative to the page
    recording_name: str                       # the recording's file name
    open: tuple[ProofDeviation, ...]          # deviations from the text not accepted
    accepted: tuple[ProofDeviation, ...]
    kinds: tuple[tuple[str, int], ...]        # the open ones by kind, in order of first appearance
    listen: tuple[str, ...]                   # per open deviation: its stretch of the MP3 (empty without an MP3)


def within_targets(part: PartFacts, loudness: float, true_peak: float, tolerance: float = TOLERANCE) -> bool | None:
    if part.after is None:
        return None
    return abs(part.after.integrated - loudness) <= tolerance and part.after.true_peak <= true_peak


def media_fragment(d: ProofDeviation, duration: float | None, pad: float = PROOF_PAD) -> str:
    """``#t=begin,end`` for the stretch of a deviation with ``pad`` seconds either side (for a skip, the
    seconds around the place), in the published MP3's timeline (the master's)."""
    b = max(0.0, d.begin - pad)
    e = d.end + pad
    if duration:
        e = min(e, float(duration))
    return f"#t={b:.2f},{max(e, b):.2f}"


def _relative(path: Path | None, page_dir: Path) -> str | None:
    return Path(os.path.relpath(path, page_dir)).as_posix() if path is not None else None


def part_view(part: PartFacts, page_dir: Path, loudness: float, true_peak: float) -> PartView:
    devs = part.proof.deviations if part.proof is not None else ()
    open_ = tuple(d for d in devs if not d.accepted)
    src = _relative(part.mp3, page_dir)
    return PartView(
        facts=part, within=within_targets(part, loudness, true_peak),
        timeline=_relative(part.timeline, page_dir),
        recording_name=Path(part.recording.source).name if part.recording and part.recording.source else "",
        open=open_, accepted=tuple(d for d in devs if d.accepted),
        kinds=tuple(Counter(d.kind for d in open_).items()),
        listen=tuple(src + media_fragment(d, part.duration) for d in open_) if src else ())


def number(v: float | None, fmt: str = ".1f") -> str:
    """A figure as the page shows it: a real minus sign, ∞ for silence, – when unknown."""
    if v is None:
        return "–"
    v = float(v)
    if math.isinf(v):
        return "−∞" if v < 0 else "∞"
    return format(v, fmt).replace("-", "−")


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,                     # every template, whatever its name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )
    env.filters["clock"] = clock
    env.filters["num"] = number
    return env


def render_page(page_dir: Path, title: str, lang: str, parts: list[PartFacts], checks: Sequence[CheckResult],
                loudness: float, true_peak: float) -> str:
    """The report page for ``page_dir/index.html``."""
    views = [part_view(p, Path(page_dir), loudness, true_peak) for p in parts]
    return environment().get_template("report-index.html").render(
        title=title, lang=lang, parts=views, checks=checks,
        failed=sum(1 for c in checks if not c.passed),
        out_of_target=sum(1 for v in views if v.within is False),
        total=sum(p.duration or 0.0 for p in parts),
        loudness=loudness, true_peak=true_peak, tolerance=TOLERANCE, low_confidence=LOW_CONFIDENCE)
