"""The release report's short table for the terminal: one line per part (time, loudness in and out, within
the targets, chapters, weak alignments), the retakes cut, the proof per part, and the checks."""
from __future__ import annotations

import math
from collections.abc import Sequence

from pipeline.model.contracts import DEVIATION_KINDS, CheckResult
from pipeline.report.facts import PartFacts
from pipeline.report.page import within_targets
from pipeline.report.timeline import clock


def _columns(rows: Sequence[tuple[str, ...]]) -> list[str]:
    """The rows as columns: the first left-aligned, the rest right-aligned."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)).rstrip()
            for r in rows]


def _plain(v: float | None) -> str:
    if v is None:
        return "-"
    v = float(v)
    return ("-inf" if v < 0 else "inf") if math.isinf(v) else f"{v:.1f}"


def cuts_line(parts: list[PartFacts]) -> list[str]:
    """The line on the cuts (only with ``[audio] cut_retakes``)."""
    cut = [(p.id, p.cuts) for p in parts if p.cuts is not None]
    if not cut:
        return []
    n = sum(len(c.cuts) for _, c in cut)
    removed = sum(c.removed for _, c in cut)
    each = ", ".join(f"{pid} {len(c.cuts)}" for pid, c in cut if c.cuts)
    kept = sum(len(c.kept) for _, c in cut)
    return [f"cuts: {n} false start(s) cut, {removed:.1f} s removed" + (f" ({each})" if each else "")
            + (f"; {kept} retake(s) kept" if kept else "")]


def proof_table(parts: list[PartFacts]) -> list[str]:
    """Per part the deviations not accepted by kind, their total and how many were accepted; then all parts."""
    proofed = [(p.id, p.proof) for p in parts if p.proof is not None]
    if not proofed:
        return ["proof: not run"]
    head = ("proof", *DEVIATION_KINDS, "total", "accepted")
    rows: list[tuple[str, ...]] = [head]
    sums = [0] * (len(DEVIATION_KINDS) + 2)
    for pid, proof in proofed:
        devs = proof.deviations
        n = [sum(1 for d in devs if d.kind == k and not d.accepted) for k in DEVIATION_KINDS]
        n += [sum(n), sum(1 for d in devs if d.accepted)]
        sums = [a + b for a, b in zip(sums, n)]
        rows.append((pid, *map(str, n)))
    rows.append(("all parts", *map(str, sums)))
    lines = _columns(rows)
    missing = [p.id for p in parts if p.proof is None]
    if missing:
        lines.append(f"proof: not run for {', '.join(missing)}")
    return lines


def terminal_table(parts: list[PartFacts], checks: Sequence[CheckResult], loudness: float = -16.0,
                   true_peak: float = -1.0) -> str:
    rows: list[tuple[str, ...]] = [("part", "time", "LUFS in", "peak in", "LUFS out", "TP out", "ok", "chap", "low", "lowest")]
    for p in parts:
        low = p.lowest[0] if p.lowest else None
        rows.append((
            p.id, clock(p.duration) if p.duration is not None else "-",
            _plain(p.before.integrated if p.before else None), _plain(p.before.peak if p.before else None),
            _plain(p.after.integrated if p.after else None), _plain(p.after.true_peak if p.after else None),
            {True: "yes", False: "NO", None: "-"}[within_targets(p, loudness, true_peak)], str(len(p.chapters)),
            "-" if p.low is None else str(p.low),
            f"{low.confidence:.2f} {low.id.rsplit('-', 1)[-1]}" if low else "-",
        ))
    lines = _columns(rows) + cuts_line(parts) + proof_table(parts)
    if not checks:
        lines.append("checks: not run")
    lines += [f"{'pass' if c.passed else 'FAIL'}  {c.name}: {c.summary}" for c in checks]
    return "\n".join(lines)
