"""The release report's facts: what it says about each narrated part, gathered from the build's files.

Nothing here writes HTML. :func:`collect_parts` reads, per part, through the contracts
(:mod:`pipeline.model.contracts`), the master stage's report, the sync map, the proof stage's result and
(with ``[audio] cut_retakes``) the cut stage's list,
measures the published MP3 (or takes the measurement made when it was encoded, when its audio bytes are
the published ones), draws the timeline picture when it is missing or stale, and returns typed
:class:`PartFacts`. Where each of those files lives comes in as a :class:`ReportInputs`; the build tree's
layout is written down once, in :meth:`ReportInputs.under`.
"""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import mutagen

from pipeline.checks.loudness import recorded_loudness
from pipeline.model.contracts import (
    KeptRetake,
    Proof,
    read_audio_report,
    read_cuts,
    read_proof,
    read_syncmap,
)
from pipeline.model.problems import InputError, Problem, display_path
from pipeline.report.timeline import LOW_CONFIDENCE, timeline_png
from pipeline.stages.audio import Loudness, measure
from pipeline.system.mp3 import mp3_duration as header_duration

LOWEST_SHOWN = 5          # the weakest alignments listed per part
DEFAULT_BUILD = Path("build")     # the build tree (the Makefile's), where ReportInputs.under finds each input
DEFAULT_SITE = Path("output")     # the published site (audio/ID.mp3)
TIMELINES = "timelines"           # the timeline pictures' folder, beside the report's page

# ---------------------------------------------------------------------------- where the inputs are


@dataclass(frozen=True)
class ReportInputs:
    """Every folder the report reads (each holds one file per part, named by the part's id), and the
    folder its timeline pictures are written to."""
    site: Path                # audio/ID.mp3: the published (or staged) MP3s
    audio_reports: Path       # ID.json: the master stage's measurements and decisions
    sync: Path                # ID.json: the sync maps (the cut audio's with cut_retakes)
    masters: Path             # ID.flac: the audio the MP3s were made from (the cut master with cut_retakes)
    waveforms: Path           # ID.npy: the aligner's (or the cut stage's) envelope of that audio
    loudness: Path            # ID.json: the podcast MP3 measured when it was encoded
    proof: Path               # ID.json: the proof stage's result
    cuts: Path | None         # ID.json: the cut stage's list (only with [audio] cut_retakes)
    timelines: Path           # ID.png: the timeline pictures (written here)

    @classmethod
    def under(cls, build: Path, site: Path, report_dir: Path | None = None,
              cut_retakes: bool = False) -> ReportInputs:
        """The build tree's layout (the Makefile's): ``build/audio``, ``build/sync``, ``build/master``
        (``build/cut`` with cut retakes), ``build/waveform``, ``build/loudness``, ``build/proof``; the
        pictures in ``timelines/`` beside the page (``report_dir``, default ``build/report``)."""
        build = Path(build)
        page_dir = Path(report_dir) if report_dir is not None else build / "report"
        return cls(site=Path(site), audio_reports=build / "audio", sync=build / "sync",
                   masters=build / ("cut" if cut_retakes else "master"), waveforms=build / "waveform",
                   loudness=build / "loudness", proof=build / "proof",
                   cuts=build / "cut" if cut_retakes else None,
                   timelines=page_dir / TIMELINES)

    def mp3(self, pid: str) -> Path:
        return self.site / "audio" / f"{pid}.mp3"

    def required(self, pid: str) -> list[Path]:
        """The files a part's facts cannot do without."""
        return [self.audio_reports / f"{pid}.json", self.sync / f"{pid}.json", self.masters / f"{pid}.flac",
                self.mp3(pid), *([self.cuts / f"{pid}.json"] if self.cuts is not None else [])]


# ---------------------------------------------------------------------------- the facts


@dataclass(frozen=True)
class Before:
    """The recording as it came in (the master stage's analysis)."""
    integrated: float         # LUFS
    peak: float               # dBFS, sample peak


@dataclass(frozen=True)
class Recording:
    """The recording and what mastering did to it (seconds, dB)."""
    source: str
    duration: float
    trim_start: float
    trim_end: float
    gain_db: float
    limiter: bool


@dataclass(frozen=True)
class Chapter:
    title: str
    begin: float


@dataclass(frozen=True)
class Weak:
    """One of a part's lowest alignment confidences."""
    id: str
    text: str
    confidence: float
    begin: float


@dataclass(frozen=True)
class Cut:
    """A false start cut from the audio: the join's time in the published MP3, and the place in the
    recording (the cut's times plus the head trim)."""
    at: float
    duration: float
    fragment: str
    text: str
    recording_begin: float
    recording_end: float


@dataclass(frozen=True)
class Cuts:
    cuts: tuple[Cut, ...]
    kept: tuple[KeptRetake, ...]              # the retakes left in the audio, and why
    removed: float            # seconds, in all
    list: str                 # the cut stage's list, as shown


@dataclass(frozen=True)
class PartFacts:
    """What the report says about one narrated part. Only ``id`` and ``title`` are required: the rest is
    empty when not known."""
    id: str
    title: str
    duration: float | None = None                 # the published MP3's
    before: Before | None = None
    after: Loudness | None = None                 # the published MP3 measured (LUFS, dBTP)
    chapters: tuple[Chapter, ...] = ()
    lowest: tuple[Weak, ...] = ()
    sentences: int = 0
    low: int | None = None                        # sentences below LOW_CONFIDENCE
    recording: Recording | None = None
    timeline: Path | None = None                  # the picture
    mp3: Path | None = None
    deviations: int = 0                           # in the sync map (drawn on the timeline)
    proof: Proof | None = None                    # the proof stage's result; None: not proofed
    cuts: Cuts | None = None                      # None: cut_retakes is off


# ---------------------------------------------------------------------------- measuring


def mp3_duration(path: Path, fallback: float) -> float:
    """The MP3's duration from its Xing/LAME header (:mod:`pipeline.system.mp3`), or ``fallback`` when
    mutagen cannot read it."""
    try:
        return header_duration(path)
    except (mutagen.MutagenError, OSError):
        return float(fallback)


def measure_mp3(path: Path) -> Loudness:
    """Integrated loudness (LUFS, dual mono), true peak (dBTP) and duration (s) of a delivered MP3.

    Loudness and true peak come from ffmpeg's ebur128 (``peak=true:dualmono=true``), the same meter the
    release checks use; the duration from the MP3's Xing/LAME header (mutagen), falling back to the
    decoded length."""
    m = measure(Path(path))
    return Loudness(integrated=m.integrated, true_peak=m.true_peak, duration=mp3_duration(path, m.duration))


def measured_or_measure(mp3: Path, measured: Path) -> Loudness:
    """The measurement taken when the MP3 was encoded (its loudness record), if its audio bytes are the
    published ones (the loudness check's rule, :func:`pipeline.checks.loudness.recorded_loudness`); else
    the MP3 measured now."""
    record = recorded_loudness(mp3, measured)
    if record is not None:
        return Loudness(integrated=record.integrated, true_peak=record.true_peak,
                        duration=mp3_duration(mp3, record.duration))
    return measure_mp3(mp3)


# ---------------------------------------------------------------------------- collecting


def collect_parts(book, inputs: ReportInputs, progress: Callable[[str], None] | None = None) -> list[PartFacts]:
    """The report's facts for every narrated part, with each part's timeline drawn into
    ``inputs.timelines`` when missing or older than its sync map or audio. The MP3s are measured two
    at a time while the timelines are drawn. Every missing input is reported at once (E-REPORT-001)."""
    parts = list(book.narrated_parts)
    missing = [Problem(display_path(f), 0, "E-REPORT-001", f"not found (build part '{p.id}' first)")
               for p in parts for f in inputs.required(p.id) if not f.exists()]
    if missing:
        raise InputError(missing)
    say = progress or (lambda msg: None)
    facts: list[PartFacts] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(measured_or_measure, inputs.mp3(p.id), inputs.loudness / f"{p.id}.json")
                   for p in parts]
        for i, p in enumerate(parts, 1):
            facts.append(_part(p, inputs, say, f"{i}/{len(parts)}"))
        out = []
        for i, (part, future) in enumerate(zip(facts, futures), 1):
            m = future.result()
            out.append(replace(part, duration=m.duration, after=m))
            say(f"measured {i}/{len(facts)}: {part.id}")
    return out


def _part(p, inputs: ReportInputs, say: Callable[[str], None], count: str) -> PartFacts:
    """One part's facts from its files (all but the MP3's measurement), its timeline drawn if needed."""
    sync_path, master = inputs.sync / f"{p.id}.json", inputs.masters / f"{p.id}.flac"
    sync = read_syncmap(sync_path)
    png = inputs.timelines / f"{p.id}.png"
    if not _fresh(png, sync_path, master):
        # the envelope of this master when it has one, else the master itself
        env = inputs.waveforms / f"{p.id}.npy"
        timeline_png(env if _fresh(env, master) else master, sync, png)
        say(f"timeline {count}: {p.id}")
    audio = read_audio_report(inputs.audio_reports / f"{p.id}.json")
    analysis, plan = audio.analysis, audio.plan
    scored = [Weak(id=f.id, text=f.text, confidence=f.confidence, begin=f.begin)
              for f in sync.fragments if f.confidence is not None]
    return PartFacts(
        id=p.id, title=p.title,
        before=Before(integrated=analysis.integrated, peak=analysis.peak_db),
        chapters=tuple(Chapter(title=c.title, begin=c.begin) for c in sync.chapters),
        lowest=tuple(sorted(scored, key=lambda w: (w.confidence, w.begin))[:LOWEST_SHOWN]),
        sentences=len(sync.fragments),
        low=sum(1 for w in scored if w.confidence < LOW_CONFIDENCE),
        recording=Recording(source=analysis.source, duration=analysis.duration, trim_start=plan.trim_start,
                            trim_end=plan.trim_end, gain_db=plan.gain_db, limiter=plan.limiter),
        timeline=png, mp3=inputs.mp3(p.id), deviations=len(sync.deviations),
        proof=_proof(inputs.proof / f"{p.id}.json"),
        cuts=part_cuts(inputs.cuts / f"{p.id}.json", plan.trim_start) if inputs.cuts is not None else None)


def _fresh(out: Path, *inputs: Path) -> bool:
    """``out`` exists and is no older than any of ``inputs``."""
    try:
        t = out.stat().st_mtime_ns
    except FileNotFoundError:
        return False
    return all(i.stat().st_mtime_ns <= t for i in inputs)


def _proof(path: Path) -> Proof | None:
    """The proof stage's result for a part, or None when the part was not proofed (or its result cannot
    be read: the release gate reports that)."""
    try:
        return read_proof(path)
    except InputError:
        return None


def part_cuts(path: Path, trim_start: float) -> Cuts:
    """The cut stage's list for a part: the cuts, with their place in the recording (their times in the
    master plus the head trimmed off the recording), and the retakes kept."""
    listed = read_cuts(path)
    cuts = tuple(Cut(at=c.at, duration=c.duration, fragment=c.fragment, text=c.text,
                     recording_begin=c.begin + trim_start, recording_end=c.end + trim_start) for c in listed.cuts)
    return Cuts(cuts=cuts, kept=listed.kept, removed=listed.removed, list=display_path(path))
