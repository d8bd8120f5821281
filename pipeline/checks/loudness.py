"""The loudness check of the release gate: integrated loudness and true peak of every MP3 of the site,
by the independent meter (ffmpeg ebur128, :func:`pipeline.stages.audio.measure`).

The master stage measures each podcast MP3 as it writes it (``build/loudness/ID.json``, a
:class:`~pipeline.model.contracts.LoudnessRecord`, keyed by the SHA-256 of the audio payload). A record
is trusted for a published file whose payload is byte-identical (the tagged copy: tags aside, the same
bytes); anything else is measured now. :func:`recorded_loudness` is that rule, for the gate and the report.
"""
from __future__ import annotations

import concurrent.futures as cf
import time
from pathlib import Path

from pipeline.model.contracts import CheckResult, Finding, LoudnessRecord, read_loudness
from pipeline.model.problems import InputError, display_path
from pipeline.stages.audio import measure, payload_sha256

TOLERANCE_LU = 0.5


def recorded_loudness(mp3: Path, record: Path | None) -> LoudnessRecord | None:
    """The measurement taken when ``mp3``'s audio was encoded, if ``record`` exists and is of the same
    audio payload; None otherwise (measure it)."""
    if record is None or not record.exists():
        return None
    try:
        rec = read_loudness(record)
    except InputError:
        return None                  # an unreadable record is not trusted: the file is measured
    return rec if rec.payload_sha256 == payload_sha256(mp3) else None


def check_audio(site: Path, target: float, ceiling: float, measured: Path | None = None) -> CheckResult:
    """("loudness"): C-LOUD-001 integrated loudness off the target by more than 0.5 LU, C-LOUD-002 true
    peak over the ceiling, C-LOUD-003 no MP3 at all. ``measured`` is the folder of loudness records."""
    t = time.perf_counter()
    mp3s = sorted((site / "audio").glob("*.mp3"))
    values: dict[Path, tuple[float, float]] = {}
    now = []
    for mp3 in mp3s:
        rec = recorded_loudness(mp3, measured / f"{mp3.stem}.json" if measured else None)
        if rec is None:
            now.append(mp3)
        else:
            values[mp3] = (rec.integrated, rec.true_peak)
    with cf.ThreadPoolExecutor(max_workers=2) as pool:
        for mp3, m in zip(now, pool.map(measure, now)):
            values[mp3] = (m.integrated, m.true_peak)
    findings: list[Finding] = []
    for mp3 in mp3s:
        integrated, true_peak = values[mp3]
        if abs(integrated - target) > TOLERANCE_LU:
            findings.append(Finding("C-LOUD-001", display_path(mp3),
                                    f"{integrated:.1f} LUFS, target {target:.1f} ± {TOLERANCE_LU}"))
        if true_peak > ceiling:
            findings.append(Finding("C-LOUD-002", display_path(mp3), f"true peak {true_peak:.1f} dBTP over {ceiling:.1f}"))
    if not mp3s:
        findings.append(Finding("C-LOUD-003", display_path(site / "audio"), "no MP3s"))
    summary = (f"{len(mp3s)} MP3s within ±{TOLERANCE_LU} LU of {target} LUFS, true peak ≤ {ceiling} dBTP "
               f"({len(mp3s) - len(now)} measured at encoding)") if not findings else f"{len(findings)} problem(s)"
    return CheckResult("loudness", not findings, tuple(findings), summary, time.perf_counter() - t)
