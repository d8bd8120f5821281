"""Proofing: the narrator's deviations from the text (skips, retakes, unscripted speech, misreads) that
an editor has not yet accepted, for Audacity, the release report and the release gate.

``python -m pipeline proof build/sync/ID.json --audio-report build/audio/ID.json
[--accept recordings/ID.labels.txt] -o build/proof/ID.txt --json build/proof/ID.json`` writes

- ``build/proof/ID.txt``: an Audacity label file of the deviations not accepted, in the *recording's*
  timeline (the sync map's times plus the head the master stage trimmed off, its report's ``trim_start``), so
  that it opens over the original recording; each label reads ``KIND FRAGMENT-ID: first words``;
- ``build/proof/ID.json``: every deviation of the part with an ``accepted`` flag (times in the master's
  timeline, which is the published MP3's), for the report and the gate.

With ``[audio] cut_retakes`` the sync map is the cut audio's: ``--cuts build/cut/ID.json`` (the cut stage's
list) maps its times back to the uncut master before the head is added, so the labels still sit over the
recording (a deviation that begins at a join begins where the cut ended; one that ends there ends where it
began). Each cut is labelled too, ``retake FRAGMENT-ID: first words [cut]``, so an editor can listen to what
was removed; ``accept`` before that label keeps the false start (the cut stage leaves accepted retakes).

A deviation is accepted by a line in the part's label file (``recordings/ID.labels.txt``, the file that
also fixes boundaries for the aligner) whose label is ``accept KIND FRAGMENT-ID`` (optionally followed by
``: a note``); its times are informational. Matching is by kind and fragment id, so an acceptance
outlives re-alignment. The aligner skips these lines.

The gate (:func:`check_proof`, run by ``python -m pipeline check``) fails on any unaccepted deviation
when ``book.toml`` says ``[proof] strict = true``; otherwise they are warnings.
"""
from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.model.contracts import (
    DEVIATION_KINDS,
    CheckResult,
    CutSpan,
    Finding,
    Proof,
    ProofCut,
    ProofDeviation,
    SyncMap,
    read_audio_report,
    read_cuts,
    read_proof,
    read_syncmap,
    uncut_time,
)
from pipeline.model.problems import InputError, Problem, display_path
from pipeline.system.fsutil import atomic_path

if TYPE_CHECKING:  # the proof stage itself never loads the book (the schema costs 0.15 s a process)
    from pipeline.model.sources import Book

LABEL_WORDS = 8           # words of the sentence in a label
LABEL_CHARS = 60
ACCEPT_RE = re.compile(r"^accept\s+(?P<kind>\S+)\s+(?P<fragment>[^\s:]+)\s*(?::.*)?$")


def is_accept_label(label: str) -> bool:
    """An acceptance, not a boundary: the label's first word is ``accept`` (as the aligner decides)."""
    return label.split()[:1] == ["accept"]


# ---------------------------------------------------------------------------- reading


def read_accepts(path: Path, fragment_ids: set[str]) -> set[tuple[str, str]]:
    """The (kind, fragment id) pairs accepted in an Audacity label file; every problem at once
    (``E-LABEL-001`` bad columns, ``-003`` unreadable, ``-004`` unknown kind or malformed, ``-005``
    unknown fragment), each at ``file:line``."""
    shown = display_path(path)
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise InputError(Problem(shown, 0, "E-LABEL-003", f"label file cannot be read: {e.strerror or e}")) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        bad_line = data[: e.start].count(b"\n") + 1
        raise InputError(Problem(shown, bad_line, "E-LABEL-003",
                                 f"label file is not valid UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start})")) from None
    accepted: set[tuple[str, str]] = set()
    problems: list[Problem] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("\\"):      # blank, or Audacity's frequency line
            continue
        cols = line.split("\t")
        try:
            if len(cols) < 3:
                raise ValueError
            float(cols[0]), float(cols[1])
        except ValueError:
            problems.append(Problem(shown, n, "E-LABEL-001", "expected 'start<TAB>end<TAB>label'"))
            continue
        label = cols[2].strip()
        if not is_accept_label(label):
            continue                                        # a boundary label: the aligner's
        m = ACCEPT_RE.match(label)
        if not m:
            problems.append(Problem(shown, n, "E-LABEL-004",
                                    f"expected 'accept KIND FRAGMENT-ID[: note]', got {label!r}"))
            continue
        kind, fragment = m.group("kind"), m.group("fragment")
        if kind not in DEVIATION_KINDS:
            problems.append(Problem(shown, n, "E-LABEL-004",
                                    f"unknown deviation kind {kind!r} (one of {', '.join(DEVIATION_KINDS)})"))
            continue
        if fragment not in fragment_ids:
            problems.append(Problem(shown, n, "E-LABEL-005", f"{fragment!r} names no fragment of this part"))
            continue
        accepted.add((kind, fragment))
    if problems:
        raise InputError(problems)
    return accepted


# ---------------------------------------------------------------------------- proofing


def first_words(text: str, words: int = LABEL_WORDS, chars: int = LABEL_CHARS) -> str:
    """The start of a sentence for a label: one line, a few words, an ellipsis when cut."""
    whole = " ".join(str(text).split())
    cut = " ".join(whole.split()[:words])
    if len(cut) > chars:
        cut = cut[:chars].rsplit(" ", 1)[0]
    return cut + ("…" if cut != whole else "")


def label_text(kind: str, fragment: str, text: str) -> str:
    """``KIND FRAGMENT-ID: first words``; ``accept`` and this text accepts it."""
    words = first_words(text)
    return f"{kind} {fragment}" + (f": {words}" if words else "")


def proof(sync: SyncMap, trim_start: float, accepted: set[tuple[str, str]], cuts: Sequence[CutSpan] = ()
          ) -> list[ProofDeviation]:
    """The part's deviations in time order, each with ``accepted`` and its place in the recording (through
    ``cuts``, the cut stage's list, when the sync map is the cut audio's)."""
    texts = {f.id: f.text for f in sync.fragments}
    out = []
    for d in sorted(sync.deviations, key=lambda d: (d.begin, d.end, d.fragment, d.kind)):
        b, e = round(d.begin, 3), round(d.end, 3)
        text = d.text or texts.get(d.fragment, "")
        begin = uncut_time(b, cuts, at_join="after")
        end = uncut_time(e, cuts, at_join="before") if e > b else begin
        out.append(ProofDeviation(
            kind=d.kind, begin=b, end=e, fragment=d.fragment, text=text,
            confidence=None if d.confidence is None else round(d.confidence, 3),
            recording_begin=round(begin + trim_start, 6), recording_end=round(max(end, begin) + trim_start, 6),
            label=label_text(d.kind, d.fragment, text), accepted=(d.kind, d.fragment) in accepted))
    return out


def proof_cuts(cuts: Sequence[CutSpan], trim_start: float) -> list[ProofCut]:
    """The cut stage's cuts with their place in the recording and a label (``retake FRAGMENT-ID: first
    words [cut]``: with ``accept`` before it, the cut stage keeps that false start)."""
    return [ProofCut(begin=round(c.begin, 3), end=round(c.end, 3), duration=round(c.end - c.begin, 3),
                     at=round(c.at, 3), fragment=c.fragment, text=c.text,
                     recording_begin=round(c.begin + trim_start, 6), recording_end=round(c.end + trim_start, 6),
                     label=label_text("retake", c.fragment, c.text) + " [cut]")
            for c in cuts]


def audacity_labels(deviations: Sequence[ProofDeviation], cuts: Sequence[ProofCut] = ()) -> str:
    """Audacity's label format, ``start<TAB>end<TAB>label``, seconds with six decimals: the deviations not
    accepted, and the cuts, in the recording's time order."""
    rows: list[ProofDeviation | ProofCut] = [d for d in deviations if not d.accepted]
    rows += cuts
    rows.sort(key=lambda d: (d.recording_begin, d.recording_end))
    return "".join(f"{d.recording_begin:.6f}\t{d.recording_end:.6f}\t{d.label}\n" for d in rows)


def counts(deviations: Sequence[ProofDeviation], accepted: bool = False) -> dict[str, int]:
    """How many deviations of each kind (the unaccepted ones, or the accepted ones)."""
    return {k: sum(1 for d in deviations if d.kind == k and d.accepted == accepted) for k in DEVIATION_KINDS}


# ---------------------------------------------------------------------------- the gate


def clock(t: float) -> str:
    m, s = divmod(round(float(t) * 10) / 10, 60)
    return f"{int(m)}:{s:04.1f}"


def check_proof(proof_dir: Path, book: Book) -> CheckResult:
    """The release gate's proof check: with ``[proof] strict = true`` every unaccepted deviation (or a part
    not proofed) is a finding (C-PROOF-001 at its part); otherwise they are counted only."""
    strict = book.proof.strict
    open_lines: list[Finding] = []
    not_proofed: list[Finding] = []
    total = accepted = 0
    for part in book.narrated_parts:
        path = Path(proof_dir) / f"{part.id}.json"
        try:
            deviations = read_proof(path).deviations
        except InputError:
            not_proofed.append(Finding("C-PROOF-001", part.id,
                                       f"not proofed ({display_path(path)} missing or unreadable)"))
            continue
        for d in deviations:
            total += 1
            if d.accepted:
                accepted += 1
                continue
            span = clock(d.begin) if d.end <= d.begin else f"{clock(d.begin)}–{clock(d.end)}"
            open_lines.append(Finding("C-PROOF-001", part.id, f"{d.kind} at {span} {d.fragment} not accepted"))
    n = len(open_lines)
    summary = (f"{total} deviation(s), {accepted} accepted, {n} not accepted"
               + ("" if strict or not n else " (warnings: [proof] strict is false)")
               + (f"; {len(not_proofed)} part(s) not proofed" if not_proofed else ""))
    findings = tuple(open_lines + not_proofed) if strict else ()
    return CheckResult("proof", not findings, findings, summary)


# ---------------------------------------------------------------------------- stage


def cmd_proof(args: argparse.Namespace) -> int:
    # everything is read and validated before anything is written
    sync = read_syncmap(args.sync)
    report = read_audio_report(args.audio_report)
    trim, source = report.trim_start, report.recording
    accepted = read_accepts(args.accept, {f.id for f in sync.fragments}) if args.accept else set()
    cuts = read_cuts(args.cuts).cuts if args.cuts else ()
    deviations = proof(sync, trim, accepted, cuts)
    accept_file = args.accept or (Path(source).with_name(f"{sync.part}.labels.txt") if source else None)
    result = Proof(part=sync.part, trim_start=trim, recording=source, labels=display_path(args.output),
                   accept_file=display_path(accept_file) if accept_file else "", deviations=tuple(deviations),
                   cuts=tuple(proof_cuts(cuts, trim)) if args.cuts else None)
    # both outputs to temporary files first, renamed into place together
    with atomic_path(args.output) as txt, atomic_path(args.json) as js:
        txt.write_text(audacity_labels(deviations, result.cuts or ()), encoding="utf-8")
        js.write_text(result.to_json(), encoding="utf-8")
    unaccepted = counts(deviations)
    n_open, n_acc = sum(unaccepted.values()), sum(counts(deviations, accepted=True).values())
    kinds = ", ".join(f"{v} {k}" for k, v in unaccepted.items() if v)
    print(f"proof: {sync.part}: {n_open} deviation(s) not accepted" + (f" ({kinds})" if kinds else "")
          + f", {n_acc} accepted" + (f", {len(cuts)} cut(s) labelled" if cuts else ""))
    return 0


def register(add) -> None:
    def setup(p: argparse.ArgumentParser) -> None:
        p.add_argument("sync", type=Path, help="the part's sync map (build/sync/ID.json)")
        p.add_argument("--audio-report", type=Path, required=True,
                       help="the master stage's report (build/audio/ID.json): the head trimmed off the recording")
        p.add_argument("--accept", type=Path, default=None,
                       help="the part's Audacity label file (recordings/ID.labels.txt) with 'accept KIND FRAGMENT-ID' lines")
        p.add_argument("-o", "--output", type=Path, required=True,
                       help="the Audacity labels of the deviations not accepted (build/proof/ID.txt)")
        p.add_argument("--json", type=Path, required=True,
                       help="every deviation with its 'accepted' flag (build/proof/ID.json)")
        p.add_argument("--cuts", type=Path, default=None,
                       help="the cut stage's list of cuts (build/cut/ID.json), when the sync map is the cut audio's "
                            "([audio] cut_retakes): maps its times back to the recording's")

    add("proof", "list a part's deviations from the text for proofing (Audacity labels, accepted flags)",
        setup, cmd_proof)
