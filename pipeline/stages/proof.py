"""Proofing: the narrator's deviations from the text (skips, retakes, unscripted speech, misreads) that
an editor has not yet accepted, for Audacity, the release report and the release gate.

``python -m pipeline proof build/sync/ID.json --audio-report build/audio/ID.json
[--accept recordings/ID.labels.txt] -o build/proof/ID.txt --json build/proof/ID.json`` writes

- ``build/proof/ID.txt``: an Audacity label file of the deviations not accepted, in the *recording's*
  timeline (the sync map's times plus the head the master stage trimmed off, ``plan.trim_start``), so
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
import json
import re
from pathlib import Path

from pipeline.system.fsutil import atomic_path
from pipeline.model.problems import InputError, Problem, display_path
from pipeline.stages.syncmap import DEVIATION_KINDS, SyncMap, read_cuts, read_syncmap, uncut_time

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
        line = data[: e.start].count(b"\n") + 1
        raise InputError(Problem(shown, line, "E-LABEL-003",
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


def read_trim_start(path: Path) -> tuple[float, str]:
    """The head the master stage trimmed off the recording (seconds), and the recording's name."""
    shown = display_path(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        trim = float(data["plan"]["trim_start"])
    except FileNotFoundError:
        raise InputError(Problem(shown, 0, "E-PROOF-001", "audio report not found (run the master stage)")) from None
    except (OSError, ValueError, UnicodeDecodeError, KeyError, TypeError) as e:
        raise InputError(Problem(shown, 0, "E-PROOF-001",
                                 f"audio report without a readable plan.trim_start ({type(e).__name__}: {e})")) from None
    source = (data.get("analysis") or {}).get("source", "") if isinstance(data.get("analysis"), dict) else ""
    return trim, str(source or "")


# ---------------------------------------------------------------------------- proofing


def first_words(text: str, words: int = LABEL_WORDS, chars: int = LABEL_CHARS) -> str:
    """The start of a sentence for a label: one line, a few words, an ellipsis when cut."""
    whole = " ".join(str(text).split())
    cut = " ".join(whole.split()[:words])
    if len(cut) > chars:
        cut = cut[:chars].rsplit(" ", 1)[0]
    return cut + ("…" if cut != whole else "")


def label_text(d: dict) -> str:
    """``KIND FRAGMENT-ID: first words``; ``accept`` and this text accepts it."""
    words = first_words(d.get("text", ""))
    return f"{d['kind']} {d['fragment']}" + (f": {words}" if words else "")


def proof(sync: SyncMap, trim_start: float, accepted: set[tuple[str, str]], cuts: list[dict] | None = None
          ) -> list[dict]:
    """The part's deviations in time order, each with ``accepted`` and its place in the recording (through
    ``cuts``, the cut stage's list, when the sync map is the cut audio's)."""
    texts = {f["id"]: f.get("text", "") for f in sync.fragments}
    cuts = cuts or []
    out = []
    for d in sorted(sync.deviations, key=lambda d: (float(d["begin"]), float(d["end"]), d["fragment"], d["kind"])):
        item = {"kind": d["kind"], "begin": round(float(d["begin"]), 3), "end": round(float(d["end"]), 3),
                "fragment": d["fragment"], "text": d.get("text") or texts.get(d["fragment"], ""),
                "confidence": None if d.get("confidence") is None else round(float(d["confidence"]), 3)}
        begin = uncut_time(item["begin"], cuts, at_join="after")
        end = uncut_time(item["end"], cuts, at_join="before") if item["end"] > item["begin"] else begin
        item["recording_begin"] = round(begin + trim_start, 6)
        item["recording_end"] = round(max(end, begin) + trim_start, 6)
        item["label"] = label_text(item)
        item["accepted"] = (d["kind"], d["fragment"]) in accepted
        out.append(item)
    return out


def proof_cuts(cuts: list[dict], trim_start: float) -> list[dict]:
    """The cut stage's cuts with their place in the recording and a label (``retake FRAGMENT-ID: first
    words [cut]``: with ``accept`` before it, the cut stage keeps that false start)."""
    out = []
    for c in cuts:
        item = {"begin": round(c["begin"], 3), "end": round(c["end"], 3), "duration": round(c["end"] - c["begin"], 3),
                "at": round(float(c.get("at", c["begin"])), 3), "fragment": c.get("fragment", ""),
                "text": c.get("text", ""), "recording_begin": round(c["begin"] + trim_start, 6),
                "recording_end": round(c["end"] + trim_start, 6)}
        item["label"] = label_text({"kind": "retake", **item}) + " [cut]"
        out.append(item)
    return out


def audacity_labels(deviations: list[dict], cuts: list[dict] = ()) -> str:
    """Audacity's label format, ``start<TAB>end<TAB>label``, seconds with six decimals: the deviations not
    accepted, and the cuts, in the recording's time order."""
    rows = [d for d in deviations if not d["accepted"]] + list(cuts)
    rows.sort(key=lambda d: (d["recording_begin"], d["recording_end"]))
    return "".join(f"{d['recording_begin']:.6f}\t{d['recording_end']:.6f}\t{d['label']}\n" for d in rows)


def counts(deviations: list[dict], accepted: bool = False) -> dict[str, int]:
    """How many deviations of each kind (the unaccepted ones, or the accepted ones)."""
    return {k: sum(1 for d in deviations if d["kind"] == k and bool(d.get("accepted")) == accepted)
            for k in DEVIATION_KINDS}


# ---------------------------------------------------------------------------- the gate


def clock(t: float) -> str:
    m, s = divmod(round(float(t) * 10) / 10, 60)
    return f"{int(m)}:{s:04.1f}"


def check_proof(proof_dir: Path, book) -> dict:
    """The release gate's proof check (a result like the other checks'): with ``[proof] strict = true``
    every unaccepted deviation (or a part not proofed) is a problem; otherwise they are counted only."""
    strict = bool(getattr(getattr(book, "proof", None), "strict", False))
    open_lines, not_proofed, total, accepted = [], [], 0, 0
    for part in book.narrated_parts:
        path = Path(proof_dir) / f"{part.id}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            deviations = data["deviations"]
        except (OSError, ValueError, KeyError, TypeError):
            not_proofed.append(f"{part.id}: not proofed ({display_path(path)} missing or unreadable)")
            continue
        for d in deviations:
            total += 1
            if d.get("accepted"):
                accepted += 1
                continue
            span = clock(d["begin"]) if float(d["end"]) <= float(d["begin"]) else \
                f"{clock(d['begin'])}–{clock(d['end'])}"
            open_lines.append(f"{part.id}: {d['kind']} at {span} {d['fragment']} not accepted")
    n = len(open_lines)
    summary = (f"{total} deviation(s), {accepted} accepted, {n} not accepted"
               + ("" if strict or not n else " (warnings: [proof] strict is false)")
               + (f"; {len(not_proofed)} part(s) not proofed" if not_proofed else ""))
    problems = open_lines + not_proofed if strict else []
    return {"name": "proof", "ok": not problems, "summary": summary, "problems": problems, "seconds": 0.0}


# ---------------------------------------------------------------------------- stage


def cmd_proof(args: argparse.Namespace) -> int:
    # everything is read and validated before anything is written
    sync = read_syncmap(args.sync)
    trim, source = read_trim_start(args.audio_report)
    accepted = read_accepts(args.accept, {f["id"] for f in sync.fragments}) if args.accept else set()
    cuts = read_cuts(args.cuts) if args.cuts else []
    deviations = proof(sync, trim, accepted, cuts)
    accept_file = args.accept or (Path(source).with_name(f"{sync.part}.labels.txt") if source else None)
    data = {"part": sync.part, "trim_start": trim, "recording": source,
            "labels": display_path(args.output),
            "accept_file": display_path(accept_file) if accept_file else "",
            "deviations": deviations}
    if args.cuts:
        data["cuts"] = proof_cuts(cuts, trim)
    # both outputs to temporary files first, renamed into place together
    with atomic_path(args.output) as txt, atomic_path(args.json) as js:
        txt.write_text(audacity_labels(deviations, data.get("cuts", [])), encoding="utf-8")
        js.write_text(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
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
