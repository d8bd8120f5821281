"""The files that pass between stages: one typed contract each, with the function that writes it and the one
that reads it back. No stage parses another stage's file itself; it reads it here, and gets typed values
or one coded problem per thing that is wrong, naming the file.

==========================  ===========================  ====================  ===================================
file                        type                         written by            read by
==========================  ===========================  ====================  ===================================
build/sync/ID.json          :class:`SyncMap`             align, cut            tag, transcript, chapters, cut,
                                                                               proof, epub, web, report
build/cut/ID.json           :class:`CutList`             cut                   cut (reuse), proof, report
build/audio/ID.json         :class:`AudioReport`         master (audio.py)     align, proof, report
build/loudness/ID.json      :class:`LoudnessRecord`      master, cut           cut (reuse), check, report
build/proof/ID.json         :class:`Proof`               proof                 check (proof gate), report
build/waveform/ID.npy       envelope (int16 array)       align, cut            cut, report (timeline)
chapters/ID.json (site)     :class:`PodcastChapters`     chapters              feed (Podlove chapters)
==========================  ===========================  ====================  ===================================

The JSON on disk is part of the command-line contract (the sync map) or of the build's history: each
writer gives exactly the bytes the stages wrote before these types existed (keys sorted, indent 1, the
same rounding), so a rebuild never changes a file just because it went through a type.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from pipeline.model.problems import InputError, Problem, display_path
from pipeline.system.fsutil import atomic_path, atomic_write_text

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

# ---------------------------------------------------------------------------- reading JSON, coded


def _load(path: Path, missing: Problem, invalid_code: str, what: str) -> object:
    """The JSON value of ``path``; a missing file is ``missing``, bad bytes or JSON one ``invalid_code``."""
    shown = display_path(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(missing) from None
    except UnicodeDecodeError as e:
        raise InputError(Problem(shown, 0, invalid_code, f"{what} is not valid UTF-8 ({e.reason} at byte {e.start})")) from None
    except OSError as e:
        raise InputError(Problem(shown, 0, invalid_code, f"{what} cannot be read: {e.strerror or e}")) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(Problem(shown, e.lineno, invalid_code, f"{what} is not valid JSON: {e}")) from None


class _Fields:
    """Typed values out of the JSON objects of one file, collecting a coded problem for each one that is
    missing or of the wrong type (a placeholder is returned, and :meth:`done` raises them all)."""

    def __init__(self, path: Path, code: str, prefix: str = "") -> None:
        self.shown, self.code, self.prefix = display_path(path), code, prefix
        self.problems: list[Problem] = []

    def problem(self, message: str, code: str | None = None) -> None:
        self.problems.append(Problem(self.shown, 0, code or self.code, self.prefix + message))

    def done(self) -> None:
        if self.problems:
            raise InputError(self.problems)

    def obj(self, value: object, where: str) -> Mapping[str, object]:
        if isinstance(value, dict):
            return value
        self.problem(f"{where} is not a JSON object")
        return {}

    def items(self, d: Mapping[str, object], key: str, where: str, required: bool = True) -> list[Mapping[str, object]]:
        value = d.get(key, None if required else [])
        if not isinstance(value, list):
            self.problem(f"{where}: '{key}' is missing or not a list")
            return []
        return [self.obj(v, f"{where}: {key}[{i}]") for i, v in enumerate(value)]

    def _get(self, d: Mapping[str, object], key: str, where: str, ok: Callable[[object], bool], kind: str) -> object:
        if key not in d:
            self.problem(f"{where} has no '{key}'")
            return None
        value = d[key]
        if not ok(value):
            self.problem(f"{where}: '{key}' is not {kind} ({value!r})")
            return None
        return value

    def num(self, d: Mapping[str, object], key: str, where: str) -> float:
        value = self._get(d, key, where, _is_num, "a number")
        return float(value) if isinstance(value, (int, float)) else 0.0

    def opt_num(self, d: Mapping[str, object], key: str, where: str) -> float | None:
        if d.get(key) is None:
            return None
        return self.num(d, key, where)

    def integer(self, d: Mapping[str, object], key: str, where: str) -> int:
        value = self._get(d, key, where, lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer")
        return value if isinstance(value, int) else 0

    def opt_integer(self, d: Mapping[str, object], key: str, where: str) -> int | None:
        if d.get(key) is None:
            return None
        return self.integer(d, key, where)

    def text(self, d: Mapping[str, object], key: str, where: str, default: str | None = None) -> str:
        if default is not None and key not in d:
            return default
        value = self._get(d, key, where, lambda v: isinstance(v, str), "a string")
        return value if isinstance(value, str) else ""

    def flag(self, d: Mapping[str, object], key: str, where: str) -> bool:
        value = self._get(d, key, where, lambda v: isinstance(v, bool), "true or false")
        return value is True


def _is_num(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _dumps(data: object, ascii_only: bool = False) -> str:
    """The house JSON: keys sorted, indent 1, a final newline."""
    return json.dumps(data, ensure_ascii=ascii_only, indent=1, sort_keys=True) + "\n"


# ---------------------------------------------------------------------------- the sync map

DEVIATION_KINDS = ("skip", "retake", "extra", "misread")
# a fragment whose confidence is below this is doubtful: the release report flags it and the timeline
# shades it (calibrated on bench/deviations.py: see docs/architecture.md, "Confidence")
DOUBT = 0.5
# fragments are contiguous: one begins where the one before ends, to the millisecond of the file's rounding
CONTIGUOUS = 0.0015


def words_of(text: str) -> list[str]:
    """A fragment's words, as the sync map times them and the web page marks them: its text split at
    white space, punctuation kept with the word it touches ("Mothers'", "2019–20," and a lone "–" are one
    word each). A word that is not spoken (a dash) is timed with no length where it falls."""
    return text.split()


@dataclass(frozen=True)
class Word:
    """One word of a fragment (:func:`words_of`) and its span of the audio, seconds: the time from its
    first sound to its last. Words are in order, do not overlap and lie inside their fragment's span."""
    begin: float
    end: float
    text: str

    def to_dict(self) -> dict[str, object]:
        return {"begin": self.begin, "end": self.end, "text": self.text}


@dataclass(frozen=True)
class Fragment:
    """A spoken fragment (a sentence or heading; its id is the source model's sentence id, or ``f000001``…
    for plain text) and its span of the audio, seconds. A skipped fragment has ``begin == end``.
    ``words`` times every word of ``text`` (:func:`words_of`), when the aligner timed them; a sync map
    written before word timing has none."""
    id: str
    begin: float
    end: float
    text: str
    confidence: float | None = None     # 0..1, how far to trust the timing (below DOUBT: doubtful)
    words: tuple[Word, ...] = ()

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"id": self.id, "begin": self.begin, "end": self.end, "text": self.text}
        if self.confidence is not None:
            d["confidence"] = self.confidence
        if self.words:
            d["words"] = [_rounded(w.to_dict()) for w in self.words]
        return d


@dataclass(frozen=True)
class Chapter:
    """A section of a part (an MP3 chapter, a SMIL seq, a podcast chapter): its id, title and span."""
    id: str
    title: str
    begin: float
    end: float

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "title": self.title, "begin": self.begin, "end": self.end}


@dataclass(frozen=True)
class Deviation:
    """Where the narration departs from the text (``kind`` one of :data:`DEVIATION_KINDS`): ``skip`` (a
    sentence not read; begin == end), ``retake`` (a false start, or the first take of a sentence read
    twice), ``extra`` (speech the text does not have; ``fragment`` is the sentence it precedes, or the last
    at the end), ``misread`` (reserved). ``fragment`` is a fragment id of the same map."""
    kind: str
    begin: float
    end: float
    fragment: str
    text: str = ""
    confidence: float | None = None

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"kind": self.kind, "begin": self.begin, "end": self.end,
                                "fragment": self.fragment, "text": self.text}
        if self.confidence is not None:
            d["confidence"] = self.confidence
        return d


@dataclass(frozen=True)
class SyncMap:
    """The timeline of one part (``build/sync/ID.json``): its fragments, contiguous, covering the whole
    audio and in text order; its chapters; its deviations, in time order (empty for an exact reading).
    Times are seconds in ``audio`` (the master, or the cut master with ``[audio] cut_retakes``)."""
    part: str
    audio: str
    duration: float
    fragments: tuple[Fragment, ...]
    chapters: tuple[Chapter, ...] = ()
    deviations: tuple[Deviation, ...] = ()

    def to_json(self) -> str:
        """The file's text: keys sorted, indent 1, every float rounded to the millisecond."""
        data = {"part": self.part, "audio": self.audio, "duration": round(self.duration, 3),
                "fragments": [_rounded(f.to_dict()) for f in self.fragments],
                "chapters": [_rounded(c.to_dict()) for c in self.chapters],
                "deviations": [_rounded(d.to_dict()) for d in self.deviations]}
        return _dumps(data)


def _rounded(d: dict[str, object]) -> dict[str, object]:
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in d.items()}


def write_syncmap(path: Path, sync: SyncMap) -> None:
    atomic_write_text(path, sync.to_json())


def read_syncmap(path: Path) -> SyncMap:
    """A sync map, checked: ``E-SYNC-001`` not found, ``-002`` not JSON, ``-003`` a field missing or of the
    wrong type, ``-004`` fragments not contiguous, ``-005`` a deviation of no known kind or naming no
    fragment of the map (every problem of a kind at once)."""
    shown = display_path(path)
    data = _load(path, Problem(shown, 0, "E-SYNC-001", "sync map not found (run the align stage)"),
                 "E-SYNC-002", "sync map")
    r = _Fields(path, "E-SYNC-003")
    top = r.obj(data, "sync map")
    if not top:
        r.done()
    for key in ("part", "duration", "fragments"):
        if key not in top:
            r.problem(f"sync map has no '{key}'")
    r.done()
    part = r.text(top, "part", "sync map")
    audio = r.text(top, "audio", "sync map", default="")
    duration = r.num(top, "duration", "sync map")
    fragments = []
    for i, f in enumerate(r.items(top, "fragments", "sync map")):
        if not all(k in f for k in ("id", "begin", "end", "text")):
            r.problem(f"fragment {i} lacks id, begin, end or text")
            continue
        where = f"fragment {i}"
        words = tuple(Word(begin=r.num(w, "begin", f"{where} word {j}"), end=r.num(w, "end", f"{where} word {j}"),
                           text=r.text(w, "text", f"{where} word {j}"))
                      for j, w in enumerate(r.items(f, "words", where, required=False)))
        fragments.append(Fragment(id=r.text(f, "id", where), begin=r.num(f, "begin", where), end=r.num(f, "end", where),
                                  text=r.text(f, "text", where), confidence=r.opt_num(f, "confidence", where),
                                  words=words))
    chapters = tuple(Chapter(id=r.text(c, "id", f"chapter {i}"), title=r.text(c, "title", f"chapter {i}"),
                             begin=r.num(c, "begin", f"chapter {i}"), end=r.num(c, "end", f"chapter {i}"))
                     for i, c in enumerate(r.items(top, "chapters", "sync map", required=False)))
    raw_deviations = r.items(top, "deviations", "sync map", required=False)
    r.done()
    prev_end = 0.0
    for frag in fragments:
        if frag.end < frag.begin or abs(frag.begin - prev_end) > CONTIGUOUS:
            r.problem(f"fragment {frag.id} ({_num(frag.begin)}–{_num(frag.end)}) is not contiguous with the one "
                      "before", "E-SYNC-004")
        prev_end = frag.end
        if frag.words and not _words_fit(frag):
            r.problem(f"fragment {frag.id}: its words are not its text's words, in order, inside its span",
                      "E-SYNC-006")
    r.done()
    ids = {f.id for f in fragments}
    deviations = []
    for i, d in enumerate(raw_deviations):
        fragment = d.get("fragment")
        if d.get("kind") not in DEVIATION_KINDS or not isinstance(fragment, str) or fragment not in ids \
                or not all(_is_num(d.get(k)) for k in ("begin", "end")):
            r.problem(f"deviation {i} is not a known kind naming a fragment of this map with a begin and an end",
                      "E-SYNC-005")
            continue
        where = f"deviation {i}"
        deviations.append(Deviation(kind=r.text(d, "kind", where), begin=r.num(d, "begin", where),
                                    end=r.num(d, "end", where), fragment=r.text(d, "fragment", where),
                                    text=r.text(d, "text", where, default=""),
                                    confidence=r.opt_num(d, "confidence", where)))
    r.done()
    return SyncMap(part=part, audio=audio, duration=duration, fragments=tuple(fragments), chapters=chapters,
                   deviations=tuple(deviations))


def _words_fit(frag: Fragment) -> bool:
    """The fragment's words are its text's (:func:`words_of`), in order, each inside the fragment's span
    and none overlapping the next (to the millisecond the file keeps)."""
    if [w.text for w in frag.words] != words_of(frag.text):
        return False
    t = frag.begin - CONTIGUOUS
    for w in frag.words:
        if w.begin < t or w.end < w.begin:
            return False
        t = w.end - CONTIGUOUS
    return t <= frag.end


def _num(x: float) -> str:
    """A time as the file has it (``12.5``, not ``12.500000001``)."""
    return repr(round(x, 6))


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
    last = sync.fragments[-1].id if sync.fragments else None
    spans = sorted((d.begin, d.end, d.fragment) for d in sync.deviations
                   if d.kind in ("extra", "retake") and d.end > d.begin)
    skipped = {d.fragment for d in sync.deviations if d.kind == "skip"}
    for f in sync.fragments:
        b, e = f.begin, f.end
        if e <= b or f.id in skipped:
            clips.append(None)
            continue
        for sb, se, names in spans:
            if se <= b or sb >= e:
                continue
            before = names == f.id and (f.id != last or len(sync.fragments) == 1)
            if before:
                b = max(b, min(se, e))
            else:
                e = min(e, sb)
        clips.append((b, e) if e > b else None)
    return clips


def mismatch(sync: SyncMap, sentence_ids: Sequence[str]) -> str | None:
    """None when the sync map times exactly these sentences in this order; else what differs
    (a stale sync map after the text was edited)."""
    got = [f.id for f in sync.fragments]
    if got == list(sentence_ids):
        return None
    have, want = set(got), set(sentence_ids)
    missing = [i for i in sentence_ids if i not in have]
    extra = [i for i in got if i not in want]
    if missing:
        return f"{len(missing)} sentence(s) not timed (first {missing[0]})"
    if extra:
        return f"{len(extra)} unknown fragment(s) (first {extra[0]})"
    return "fragments out of text order"


# ---------------------------------------------------------------------------- the list of cuts
# With ``[audio] cut_retakes`` the cut stage removes false starts from the master; its list of cuts
# (``build/cut/ID.json``) maps times between the uncut master and the cut audio.


class Span(Protocol):
    """Anything with a begin and an end in seconds (a cut, for the time mappings)."""
    @property
    def begin(self) -> float: ...
    @property
    def end(self) -> float: ...


@dataclass(frozen=True)
class CutRetake:
    """A retake deviation of the aligned map that a cut removes."""
    begin: float
    end: float
    fragment: str
    confidence: float | None


@dataclass(frozen=True)
class AlsoRemoved:
    """Another deviation whose speech lay wholly inside a cut (it leaves the map with it)."""
    kind: str
    begin: float
    end: float
    fragment: str


@dataclass(frozen=True)
class CutSpan:
    """One cut: ``begin``/``end`` in the uncut master (on the 10 ms grid), ``duration`` removed, ``at`` where
    the join lies in the cut audio, the sentence whose false start it removes and its text."""
    begin: float
    end: float
    duration: float
    at: float
    fragment: str
    text: str
    retakes: tuple[CutRetake, ...] = ()
    also_removed: tuple[AlsoRemoved, ...] = ()


@dataclass(frozen=True)
class KeptRetake:
    """A retake left in the audio (and in the map's deviations, to proof), with the reason."""
    begin: float
    end: float
    fragment: str
    text: str
    reason: str


@dataclass(frozen=True)
class CutAudio:
    """What the cut stage's audio was made from (``key``: the master's bytes, the cuts, the encoder settings)
    and the SHA-256 of each file it wrote (``flac``, ``mp3``, ``epub``): equal on a later run, nothing is
    re-encoded."""
    key: str
    outputs: Mapping[str, str]


@dataclass(frozen=True)
class CutList:
    """``build/cut/ID.json``: the cuts in time order and the retakes kept. Floats are written as given (the
    stage rounds them: cut times to 10 ms, the rest to the millisecond)."""
    part: str
    master: str
    sample_rate: int
    crossfade: float
    pause_threshold_db: float
    duration_before: float
    duration_after: float
    removed: float
    cuts: tuple[CutSpan, ...]
    kept: tuple[KeptRetake, ...]
    audio: CutAudio

    def to_json(self) -> str:
        return _dumps(asdict(self))


def write_cuts(path: Path, cuts: CutList) -> None:
    atomic_write_text(path, cuts.to_json())


def read_cuts(path: Path) -> CutList:
    """The list of cuts, its cuts in time order: ``E-SYNC-006`` when it is missing or is not one."""
    shown = display_path(path)
    data = _load(path, Problem(shown, 0, "E-SYNC-006", "list of cuts not found (run the cut stage)"),
                 "E-SYNC-006", "list of cuts")
    r = _Fields(path, "E-SYNC-006")
    top = r.obj(data, "list of cuts")
    cuts = []
    for i, c in enumerate(r.items(top, "cuts", "list of cuts")):
        w = f"cut {i}"
        retakes = tuple(CutRetake(begin=r.num(d, "begin", f"{w} retake {j}"), end=r.num(d, "end", f"{w} retake {j}"),
                                  fragment=r.text(d, "fragment", f"{w} retake {j}"),
                                  confidence=r.opt_num(d, "confidence", f"{w} retake {j}"))
                        for j, d in enumerate(r.items(c, "retakes", w, required=False)))
        also = tuple(AlsoRemoved(kind=r.text(d, "kind", f"{w} also_removed {j}"),
                                 begin=r.num(d, "begin", f"{w} also_removed {j}"),
                                 end=r.num(d, "end", f"{w} also_removed {j}"),
                                 fragment=r.text(d, "fragment", f"{w} also_removed {j}"))
                     for j, d in enumerate(r.items(c, "also_removed", w, required=False)))
        cuts.append(CutSpan(begin=r.num(c, "begin", w), end=r.num(c, "end", w), duration=r.num(c, "duration", w),
                            at=r.num(c, "at", w), fragment=r.text(c, "fragment", w), text=r.text(c, "text", w),
                            retakes=retakes, also_removed=also))
    kept = tuple(KeptRetake(begin=r.num(k, "begin", f"kept {i}"), end=r.num(k, "end", f"kept {i}"),
                            fragment=r.text(k, "fragment", f"kept {i}"), text=r.text(k, "text", f"kept {i}"),
                            reason=r.text(k, "reason", f"kept {i}"))
                 for i, k in enumerate(r.items(top, "kept", "list of cuts")))
    audio = r.obj(top.get("audio"), "list of cuts: audio")
    outputs = r.obj(audio.get("outputs"), "list of cuts: audio.outputs")
    if not all(isinstance(v, str) for v in outputs.values()):
        r.problem("list of cuts: audio.outputs holds a value that is not a string")
    result = CutList(
        part=r.text(top, "part", "list of cuts"), master=r.text(top, "master", "list of cuts"),
        sample_rate=r.integer(top, "sample_rate", "list of cuts"), crossfade=r.num(top, "crossfade", "list of cuts"),
        pause_threshold_db=r.num(top, "pause_threshold_db", "list of cuts"),
        duration_before=r.num(top, "duration_before", "list of cuts"),
        duration_after=r.num(top, "duration_after", "list of cuts"), removed=r.num(top, "removed", "list of cuts"),
        cuts=tuple(sorted(cuts, key=lambda c: c.begin)), kept=kept,
        audio=CutAudio(key=r.text(audio, "key", "list of cuts: audio"),
                       outputs={k: str(v) for k, v in outputs.items()}))
    r.done()
    return result


def cut_time(t: float, cuts: Sequence[Span]) -> float:
    """A time in the uncut master, in the cut audio: later than a cut, earlier by its length; inside a cut,
    the join."""
    return t - sum(min(max(t - c.begin, 0.0), c.end - c.begin) for c in cuts)


def uncut_time(t: float, cuts: Sequence[Span], at_join: Literal["after", "before"] = "after") -> float:
    """A time in the cut audio, in the uncut master (the inverse of :func:`cut_time`; ``cuts`` in time
    order). At a join, ``at_join="after"`` gives the end of the cut (the audio that follows it: right for
    where something begins), ``"before"`` its beginning (right for where something ends)."""
    removed = 0.0
    for c in cuts:
        join = c.begin - removed
        if t > join + 1e-9 or (at_join == "after" and abs(t - join) <= 1e-9):
            removed += c.end - c.begin
        else:
            break
    return t + removed


# ---------------------------------------------------------------------------- the master's report


@dataclass(frozen=True)
class Analysis:
    """What the master stage measured in the recording (pass 1)."""
    source: str                     # the recording, as the user names it
    codec: str
    sample_rate: int
    channels: int
    duration: float                 # decoded duration, seconds
    integrated: float               # LUFS (dual mono for a mono source)
    peak_db: float                  # sample peak, dBFS, loudest channel
    dead_channel: int | None        # 0-based index of a silent channel in a stereo file
    speech_start: float             # first and last moments of speech (seconds)
    speech_end: float
    stream: int = 0                 # which audio stream of the file (0-based, as ``-map 0:a:K``)
    layout: str = ""                # its channel layout as ffmpeg names it ("5.1", "4 channels")
    mix: str = ""                   # the narration mix (a ``pan`` filter; "" for the channels as they are)
    out_channels: int = 0           # the mix's channels (1 or 2; 0 in an older report: from ``channels``)


@dataclass(frozen=True)
class RenderPlan:
    """What the master stage decided (pass 2)."""
    trim_start: float               # seconds of the recording before the master's first sample
    trim_end: float                 # where the master ends, in the recording
    channels: int                   # 1 or 2 in the outputs
    gain_db: float
    limiter: bool
    limit_db: float                 # sample-peak ceiling of the oversampled limiter


@dataclass(frozen=True)
class AudioReport:
    """``build/audio/ID.json``, the master stage's report: what it measured and decided, the ffmpeg filter it
    ran and the podcast bitrate (kbps). Written as measured (no rounding)."""
    analysis: Analysis
    plan: RenderPlan
    filter: str
    bitrate: int

    @property
    def trim_start(self) -> float:
        """The head trimmed off the recording (seconds): a time in the master plus this is the same moment
        in the recording (the aligner's labels, the proof's Audacity labels)."""
        return self.plan.trim_start

    @property
    def recording(self) -> str:
        """The recording the master was made from, as the user names it."""
        return self.analysis.source

    def to_json(self) -> str:
        return _dumps(asdict(self), ascii_only=True)


def write_audio_report(path: Path, report: AudioReport) -> None:
    atomic_write_text(path, report.to_json())


def read_audio_report(path: Path) -> AudioReport:
    """The master's report: ``E-AUDIO-007`` when it is missing or is not one."""
    shown = display_path(path)
    data = _load(path, Problem(shown, 0, "E-AUDIO-007", "master's report not found (run the master stage)"),
                 "E-AUDIO-007", "master's report")
    r = _Fields(path, "E-AUDIO-007")
    top = r.obj(data, "master's report")
    a, p = r.obj(top.get("analysis"), "master's report: analysis"), r.obj(top.get("plan"), "master's report: plan")
    r.done()
    wa, wp = "analysis", "plan"
    report = AudioReport(
        analysis=Analysis(source=r.text(a, "source", wa), codec=r.text(a, "codec", wa),
                          sample_rate=r.integer(a, "sample_rate", wa), channels=r.integer(a, "channels", wa),
                          duration=r.num(a, "duration", wa), integrated=r.num(a, "integrated", wa),
                          peak_db=r.num(a, "peak_db", wa), dead_channel=r.opt_integer(a, "dead_channel", wa),
                          speech_start=r.num(a, "speech_start", wa), speech_end=r.num(a, "speech_end", wa),
                          stream=r.opt_integer(a, "stream", wa) or 0, layout=r.text(a, "layout", wa, default=""),
                          mix=r.text(a, "mix", wa, default=""),
                          out_channels=r.opt_integer(a, "out_channels", wa) or 0),
        plan=RenderPlan(trim_start=r.num(p, "trim_start", wp), trim_end=r.num(p, "trim_end", wp),
                        channels=r.integer(p, "channels", wp), gain_db=r.num(p, "gain_db", wp),
                        limiter=r.flag(p, "limiter", wp), limit_db=r.num(p, "limit_db", wp)),
        filter=r.text(top, "filter", "master's report"), bitrate=r.integer(top, "bitrate", "master's report"))
    r.done()
    return report


# ---------------------------------------------------------------------------- the loudness record

METER = "ffmpeg ebur128 peak=true dualmono=true"


@dataclass(frozen=True)
class LoudnessRecord:
    """``build/loudness/ID.json``: the podcast MP3 measured as written by the independent meter, keyed by
    the SHA-256 of its audio payload (the bytes after the ID3 tag), so a check can trust it for a tagged
    copy with the same payload. ``true_peak`` may be -inf (written ``-Infinity``)."""
    integrated: float           # LUFS
    true_peak: float            # dBTP
    duration: float             # seconds, as the meter decoded
    payload_sha256: str
    meter: str = METER

    def to_json(self) -> str:
        return _dumps(asdict(self), ascii_only=True)


def write_loudness(path: Path, record: LoudnessRecord) -> None:
    atomic_write_text(path, record.to_json())


def read_loudness(path: Path) -> LoudnessRecord:
    """The loudness record: ``E-AUDIO-008`` when it is missing or is not one."""
    shown = display_path(path)
    data = _load(path, Problem(shown, 0, "E-AUDIO-008", "loudness record not found (run the master stage)"),
                 "E-AUDIO-008", "loudness record")
    r = _Fields(path, "E-AUDIO-008")
    top = r.obj(data, "loudness record")
    w = "loudness record"
    record = LoudnessRecord(integrated=r.num(top, "integrated", w), true_peak=r.num(top, "true_peak", w),
                            duration=r.num(top, "duration", w), payload_sha256=r.text(top, "payload_sha256", w),
                            meter=r.text(top, "meter", w, default=METER))
    r.done()
    return record


# ---------------------------------------------------------------------------- the proof


@dataclass(frozen=True)
class ProofDeviation:
    """A deviation of the sync map as the proof gives it: times in the published audio (``begin``/``end``,
    to the millisecond) and in the recording (``recording_begin``/``recording_end``, to the microsecond:
    Audacity's labels), its label and whether an editor accepted it."""
    kind: str
    begin: float
    end: float
    fragment: str
    text: str
    confidence: float | None
    recording_begin: float
    recording_end: float
    label: str
    accepted: bool


@dataclass(frozen=True)
class ProofCut:
    """A cut (``[audio] cut_retakes``) as the proof labels it over the recording."""
    begin: float
    end: float
    duration: float
    at: float
    fragment: str
    text: str
    recording_begin: float
    recording_end: float
    label: str


@dataclass(frozen=True)
class Proof:
    """``build/proof/ID.json``: every deviation of a part with its ``accepted`` flag, the head trimmed off the
    recording, where the Audacity labels and the label file are, and the cuts (None without
    ``[audio] cut_retakes``: the key is then absent)."""
    part: str
    trim_start: float
    recording: str
    labels: str
    accept_file: str
    deviations: tuple[ProofDeviation, ...]
    cuts: tuple[ProofCut, ...] | None = None

    def to_json(self) -> str:
        data = asdict(self)
        if self.cuts is None:
            del data["cuts"]
        return _dumps(data)


def read_proof(path: Path) -> Proof:
    """A part's proof: ``E-PROOF-002`` when it is missing or is not one."""
    shown = display_path(path)
    data = _load(path, Problem(shown, 0, "E-PROOF-002", "proof not found (run the proof stage)"),
                 "E-PROOF-002", "proof")
    r = _Fields(path, "E-PROOF-002")
    top = r.obj(data, "proof")
    deviations = tuple(
        ProofDeviation(kind=r.text(d, "kind", f"deviation {i}"), begin=r.num(d, "begin", f"deviation {i}"),
                       end=r.num(d, "end", f"deviation {i}"), fragment=r.text(d, "fragment", f"deviation {i}"),
                       text=r.text(d, "text", f"deviation {i}"), confidence=r.opt_num(d, "confidence", f"deviation {i}"),
                       recording_begin=r.num(d, "recording_begin", f"deviation {i}"),
                       recording_end=r.num(d, "recording_end", f"deviation {i}"),
                       label=r.text(d, "label", f"deviation {i}"), accepted=r.flag(d, "accepted", f"deviation {i}"))
        for i, d in enumerate(r.items(top, "deviations", "proof")))
    for d in deviations:
        if d.kind not in DEVIATION_KINDS:
            r.problem(f"deviation of {d.fragment} has no known kind ({d.kind!r})")
    cuts = None
    if "cuts" in top:
        cuts = tuple(ProofCut(begin=r.num(c, "begin", f"cut {i}"), end=r.num(c, "end", f"cut {i}"),
                              duration=r.num(c, "duration", f"cut {i}"), at=r.num(c, "at", f"cut {i}"),
                              fragment=r.text(c, "fragment", f"cut {i}"), text=r.text(c, "text", f"cut {i}"),
                              recording_begin=r.num(c, "recording_begin", f"cut {i}"),
                              recording_end=r.num(c, "recording_end", f"cut {i}"), label=r.text(c, "label", f"cut {i}"))
                     for i, c in enumerate(r.items(top, "cuts", "proof")))
    proof = Proof(part=r.text(top, "part", "proof"), trim_start=r.num(top, "trim_start", "proof"),
                  recording=r.text(top, "recording", "proof"), labels=r.text(top, "labels", "proof"),
                  accept_file=r.text(top, "accept_file", "proof"), deviations=deviations, cuts=cuts)
    r.done()
    return proof


# ---------------------------------------------------------------------------- the waveform envelope

ENVELOPE_HOP = 0.010     # seconds per row of the envelope


def write_envelope(path: Path, envelope: npt.NDArray[np.int16]) -> None:
    """``build/waveform/ID.npy``: the narration's min and max sample per 10 ms (int16, frames x 2), from the
    aligner's decode (or the cut stage's, without the cut rows), for the report's timeline picture."""
    import numpy as np  # here, not at the top: the small per-part stages read contracts and never an envelope (0.1 s each)
    with atomic_path(path, suffix=".npy") as tmp:
        with open(tmp, "wb") as f:
            np.save(f, np.asarray(envelope, dtype=np.int16).reshape(-1, 2))


def read_envelope(path: Path) -> npt.NDArray[np.int16]:
    """The envelope: ``E-REPORT-002`` when it is missing or is not one (an int16 array of frames x 2;
    empty when the audio had none)."""
    import numpy as np  # here, not at the top: see write_envelope
    shown = display_path(path)
    try:
        env = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise InputError(Problem(shown, 0, "E-REPORT-002", f"not a waveform envelope: {e}")) from None
    if not isinstance(env, np.ndarray) or env.ndim != 2 or env.shape[1] != 2 or env.dtype != np.int16:
        raise InputError(Problem(shown, 0, "E-REPORT-002", "not a waveform envelope (int16, frames x 2)"))
    return env


# ---------------------------------------------------------------------------- the podcast chapters

CHAPTERS_VERSION = "1.2.0"


@dataclass(frozen=True)
class PodcastChapter:
    start_time: float           # seconds in the episode's audio
    end_time: float | None      # optional in the format (always written by the chapters stage)
    title: str


@dataclass(frozen=True)
class PodcastChapters:
    """``chapters/ID.json`` in the site: Podcasting 2.0 JSON chapters (version 1.2), written from the sync
    map by the ``chapters`` stage and read by the feed for its inline Podlove chapters. Times to the
    millisecond; ``title`` (the episode's) left out when empty."""
    chapters: tuple[PodcastChapter, ...]
    title: str = ""

    def to_json(self) -> str:
        chapters: list[dict[str, object]] = []
        for c in self.chapters:
            chapters.append({"startTime": round(c.start_time, 3), "title": c.title})
            if c.end_time is not None:
                chapters[-1]["endTime"] = round(c.end_time, 3)
        data: dict[str, object] = {"version": CHAPTERS_VERSION, "chapters": chapters}
        if self.title:
            data["title"] = self.title
        return _dumps(data)


def read_podcast_chapters(path: Path) -> PodcastChapters:
    """The JSON chapters: ``E-FEED-003`` when they are missing or are not Podcasting 2.0 JSON chapters."""
    shown = display_path(path)
    what = "chapters file is not Podcasting 2.0 JSON chapters"
    data = _load(path, Problem(shown, 0, "E-FEED-003", f"{what}: not found (run the chapters stage)"),
                 "E-FEED-003", "chapters file")
    r = _Fields(path, "E-FEED-003", prefix=f"{what}: ")
    top = r.obj(data, "the file")
    chapters = tuple(PodcastChapter(start_time=r.num(c, "startTime", f"chapter {i}"),
                                    end_time=r.opt_num(c, "endTime", f"chapter {i}"),
                                    title=r.text(c, "title", f"chapter {i}", default=""))
                     for i, c in enumerate(r.items(top, "chapters", "the file")))
    result = PodcastChapters(chapters=chapters, title=r.text(top, "title", "the file", default=""))
    r.done()
    return result



# ---------------------------------------------------------------------------- check results (the release gate)
# build/report/axe.json (check-web), build/report/epubcheck.json (check-epub --result) and
# build/report/checks.json (check: every result): written by the checks, read by the gate and the report.
# A finding's code says which rule it broke: C-EPUB-..., C-OVL-... (media overlays), C-FEED-..., C-AXE-...,
# C-LOUD-..., C-LINK-..., C-PROOF-..., C-RUN-001 (the check could not run at all); see docs/architecture.md.


@dataclass(frozen=True, order=True)
class Finding:
    """One thing a check found wrong: its rule's code, where (a file, file:line, a page), what."""
    code: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.code} {self.where}: {self.message}" if self.where else f"{self.code} {self.message}"

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "where": self.where, "message": self.message}


@dataclass(frozen=True)
class CheckResult:
    """One check's result. ``passed`` is what the gate judges; ``ran`` is false when the check could not
    run at all (a tool missing: its findings say why), which a check stage treats as its own error.
    ``subject_sha256`` names what was checked when the result is kept for later (the EPUB of
    ``epubcheck.json``). ``summary`` is for people only: nothing judges it."""
    name: str
    passed: bool
    findings: tuple[Finding, ...] = ()
    summary: str = ""
    seconds: float = 0.0
    ran: bool = True
    subject_sha256: str = ""

    @property
    def problems(self) -> list[str]:
        """The findings as lines (the terminal and the report show these)."""
        return [str(f) for f in self.findings]

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"name": self.name, "passed": self.passed, "ran": self.ran, "summary": self.summary,
                                "seconds": round(self.seconds, 1), "findings": [f.to_dict() for f in self.findings]}
        if self.subject_sha256:
            d["subject_sha256"] = self.subject_sha256
        return d


def could_not_run(name: str, findings: Sequence[Finding] | Finding, seconds: float = 0.0) -> CheckResult:
    """A check that could not run at all: a failed check, whose findings say why."""
    found = (findings,) if isinstance(findings, Finding) else tuple(findings)
    return CheckResult(name, False, found, "could not run", seconds, ran=False)


def _check_result(r: _Fields, d: Mapping[str, object], where: str) -> CheckResult:
    findings = tuple(Finding(r.text(f, "code", f"{where}: finding {i}"), r.text(f, "where", f"{where}: finding {i}"),
                             r.text(f, "message", f"{where}: finding {i}"))
                     for i, f in enumerate(r.items(d, "findings", where)))
    return CheckResult(name=r.text(d, "name", where), passed=r.flag(d, "passed", where), findings=findings,
                       summary=r.text(d, "summary", where, default=""), seconds=r.num(d, "seconds", where),
                       ran=r.flag(d, "ran", where), subject_sha256=r.text(d, "subject_sha256", where, default=""))


def write_check_result(path: Path, result: CheckResult) -> None:
    atomic_write_text(path, _dumps(result.to_dict()))


def read_check_result(path: Path, name: str | None = None) -> CheckResult:
    """One check's result (``axe.json``, ``epubcheck.json``): ``E-CHECK-001`` when it is missing, is not a
    check result, or (with ``name``) is another check's."""
    shown = display_path(path)
    data = _load(path, Problem(shown, 0, "E-CHECK-001", "check result not found (run its check stage)"),
                 "E-CHECK-001", "check result")
    r = _Fields(path, "E-CHECK-001")
    result = _check_result(r, r.obj(data, "check result"), "check result")
    if name is not None and not r.problems and result.name != name:
        r.problem(f"is the result of '{result.name}', not of '{name}'")
    r.done()
    return result


def write_check_results(path: Path, results: Sequence[CheckResult]) -> None:
    atomic_write_text(path, _dumps([x.to_dict() for x in results]))


def read_check_results(path: Path) -> list[CheckResult]:
    """Every result of the release check (``checks.json``): ``E-CHECK-001`` when it is not a list of them."""
    shown = display_path(path)
    data = _load(path, Problem(shown, 0, "E-CHECK-001", "check results not found (run the check stage)"),
                 "E-CHECK-001", "check results")
    r = _Fields(path, "E-CHECK-001")
    if not isinstance(data, list):
        r.problem("is not a list of check results")
        data = []
    results = [_check_result(r, r.obj(d, f"result {i}"), f"result {i}") for i, d in enumerate(data)]
    r.done()
    return results


__all__ = [
    "DEVIATION_KINDS", "DOUBT", "CONTIGUOUS", "Fragment", "Chapter", "Deviation", "SyncMap", "write_syncmap",
    "read_syncmap", "audible_clips", "mismatch",
    "Span", "CutRetake", "AlsoRemoved", "CutSpan", "KeptRetake", "CutAudio", "CutList", "write_cuts", "read_cuts",
    "cut_time", "uncut_time",
    "Analysis", "RenderPlan", "AudioReport", "write_audio_report", "read_audio_report",
    "METER", "LoudnessRecord", "write_loudness", "read_loudness",
    "ProofDeviation", "ProofCut", "Proof", "read_proof",
    "ENVELOPE_HOP", "write_envelope", "read_envelope",
    "CHAPTERS_VERSION", "PodcastChapter", "PodcastChapters", "read_podcast_chapters",
    "Finding", "CheckResult", "could_not_run", "write_check_result", "read_check_result", "write_check_results",
    "read_check_results",
]
