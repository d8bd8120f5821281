#!/usr/bin/env python3
"""Benchmark the aligner on a narrator's deviations: skips, retakes, extras and misreads planted in
narrations with exact truth (tests/deviations.py), plus EXACT readings for the false-report rate.

    .venv/bin/python bench/deviations.py [--quick] [--only flite|real|demo] [--jobs 2] [--keep DIR]
                                          [--json FILE] [--items SUBSTRING] [--code DIR]

The set: flite items (30-60 sentences of one part read by a flite voice, 3-6 deviations of mixed kinds
each, and EXACT items without any), real-speech items (utterances from tests/realspeech.py, when it is
there, with the same plantings made from real audio), and the 11 demo recordings in recordings/ as EXACT
items (levelled like bench/align.py does, aligned against the part's Markdown, truth from bench/truth/).
Generated items are cached under build/bench-deviations/ (keyed by a hash of the generator's settings),
so a second run only aligns. Each item is aligned by `python -m pipeline align AUDIO TEXT -o SYNC.json`,
--jobs at a time. A sync map without a "deviations" key reports none. The aligner run is the checkout's
own pipeline/, which others may be editing while the bench runs: for figures of one fixed version, run
a commit's aligner with --code, e.g.
    git archive HEAD pipeline | tar -x -C /tmp/aligner-HEAD && .venv/bin/python bench/deviations.py --code /tmp/aligner-HEAD

Matching rule. A report (an entry of the sync map's "deviations") matches a planted deviation when
  - it names the same fragment, or
  - either of them is an extra or a retake and it names the neighbouring fragment (one before or after), or
  - their time spans [begin, end] overlap or lie within TOLERANCE (1.0 s) of each other.
A planted deviation is found when some report matches it; its kind is right when a matching report has
the same kind. A report is real when it matches some planted deviation: so several reports on one
skipped run (one planted skip per skipped sentence, all at the same place) all count as real.

Printed per source (flite / real / demo) and in total:
  - per kind: planted, found, recall, kind accuracy among the found; reports of that kind and how many
    are real (skipped runs also counted as runs: a run is found when any of its sentences is);
  - precision: real reports / all reports;
  - false reports per 10 minutes of EXACT reading (every report on an exact item is false), and, on all
    items, reports matching no planted deviation per 10 minutes of the rest (the audio outside the
    planted deviations widened by TOLERANCE on each side);
  - boundary errors of the fragments that were read (sync map begin against the true onset of the last
    complete take; every item's first fragment excluded): mean, median, p97, worst, share within 0.5 s,
    and the 5 worst with their items;
  - skipped fragments given no time (begin == end), and read fragments given none;
  - fragments with confidence below DOUBT (0.5), and, on the demo recordings, the number of reports.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

KINDS = ("skip", "retake", "extra", "misread")
TOLERANCE = 1.0         # s: a report within this of a planted deviation's span matches it
from pipeline.model.contracts import DOUBT  # noqa: E402  (a fragment below this confidence is doubtful: the report's threshold)

NEIGHBOUR_KINDS = {"extra", "retake"}
SOURCES = ("flite", "real", "demo")
QUICK_DEMO = ("switchback", "nhs-palliative-care")


# ---------------------------------------------------------------------------- scoring (no audio)


def matches(report: dict, planted: dict, index: dict[str, int], tolerance: float = TOLERANCE) -> bool:
    """The matching rule (see the top of this file)."""
    if report["fragment"] == planted["fragment"]:
        return True
    if ({report["kind"], planted["kind"]} & NEIGHBOUR_KINDS and report["fragment"] in index
            and planted["fragment"] in index and abs(index[report["fragment"]] - index[planted["fragment"]]) <= 1):
        return True
    gap = max(float(report["begin"]), float(planted["begin"])) - min(float(report["end"]), float(planted["end"]))
    return gap <= tolerance


def _union(spans: list[tuple[float, float]]) -> float:
    total, cur_b, cur_e = 0.0, None, None
    for b, e in sorted(spans):
        if cur_e is None or b > cur_e:
            if cur_e is not None:
                total += cur_e - cur_b
            cur_b, cur_e = b, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None:
        total += cur_e - cur_b
    return total


def score_item(truth: dict, sync: dict, name: str = "", source: str = "", tolerance: float = TOLERANCE) -> dict:
    """One item's figures from its truth and its sync map (both as dicts)."""
    tf = truth["fragments"]
    sf = sync.get("fragments", [])
    ids = [f["id"] for f in tf]
    if [f["id"] for f in sf] != ids:
        raise ValueError(f"{name}: the sync map's fragments are not the truth's ({len(sf)} against {len(tf)})")
    index = {fid: i for i, fid in enumerate(ids)}
    planted = [dict(d) for d in truth.get("deviations", [])]
    reports = [dict(r) for r in (sync.get("deviations") or [])]
    for r in reports:
        r.setdefault("fragment", "")
        r["begin"] = float(r.get("begin", 0.0))
        r["end"] = float(r.get("end", r["begin"]))
        r["real"] = False
    for p in planted:
        p["found"] = p["kind_ok"] = False
    for r in reports:
        for p in planted:
            if matches(r, p, index, tolerance):
                r["real"] = True
                p["found"] = True
                if r.get("kind") == p["kind"]:
                    p["kind_ok"] = True
    duration = float(truth.get("duration") or sync.get("duration") or 0.0)
    near = _union([(max(0.0, p["begin"] - tolerance), min(duration, p["end"] + tolerance)) for p in planted])
    errors = []
    for i in range(1, len(tf)):
        if tf[i].get("read", True):
            errors.append({"item": name, "fragment": tf[i]["id"],
                           "error": float(sf[i]["begin"]) - float(tf[i]["begin"]),
                           "confidence": float(sf[i].get("confidence", 1.0)),
                           "text": tf[i].get("text", sf[i].get("text", "")),
                           "near": sorted({p["kind"] for p in planted if abs(index[p["fragment"]] - i) <= 1})})
    skipped = [i for i, f in enumerate(tf) if not f.get("read", True)]
    return {
        "name": name, "source": source, "exact": bool(truth.get("exact", not planted)), "duration": duration,
        "rest": max(0.0, duration - near), "planted": planted, "reports": reports, "errors": errors,
        "skipped": len(skipped),
        "skipped_zero": sum(1 for i in skipped if float(sf[i]["end"]) - float(sf[i]["begin"]) <= 1e-6),
        "read_zero": sum(1 for i, f in enumerate(tf) if f.get("read", True)
                         and float(sf[i]["end"]) - float(sf[i]["begin"]) <= 1e-6),
        "fragments": len(tf),
        "doubtful": sum(1 for f in sf if float(f.get("confidence", 1.0)) < DOUBT),
    }


def summarise(scores: list[dict]) -> dict:
    """Figures over several items' scores."""
    planted = [p for s in scores for p in s["planted"]]
    reports = [r for s in scores for r in s["reports"]]
    kinds = {}
    for k in KINDS:
        pk = [p for p in planted if p["kind"] == k]
        rk = [r for r in reports if r.get("kind") == k]
        found = sum(p["found"] for p in pk)
        kinds[k] = {"planted": len(pk), "found": found, "recall": found / len(pk) if pk else None,
                    "kind_ok": sum(p["kind_ok"] for p in pk),
                    "kind_accuracy": sum(p["kind_ok"] for p in pk) / found if found else None,
                    "reported": len(rk), "real": sum(r["real"] for r in rk)}
    runs: dict[tuple, list[dict]] = {}
    for s in scores:
        for p in s["planted"]:
            if p["kind"] == "skip" and p.get("run"):
                runs.setdefault((s["name"], tuple(p["run"])), []).append(p)
    found = sum(p["found"] for p in planted)
    real = sum(r["real"] for r in reports)
    exact = [s for s in scores if s["exact"]]
    exact_min = sum(s["duration"] for s in exact) / 60
    exact_reports = sum(len(s["reports"]) for s in exact)
    far = sum(1 for r in reports if not r["real"])
    rest_min = sum(s["rest"] for s in scores) / 60
    errs = [e for s in scores for e in s["errors"]]
    a = np.abs(np.array([e["error"] for e in errs])) if errs else np.zeros(0)
    worst = sorted(errs, key=lambda e: -abs(e["error"]))[:5]
    return {
        "items": len(scores), "exact_items": len(exact), "minutes": sum(s["duration"] for s in scores) / 60,
        "kinds": kinds,
        "all": {"planted": len(planted), "found": found, "recall": found / len(planted) if planted else None,
                "kind_ok": sum(p["kind_ok"] for p in planted),
                "kind_accuracy": sum(p["kind_ok"] for p in planted) / found if found else None},
        "skip_runs": {"planted": len(runs), "found": sum(any(p["found"] for p in ps) for ps in runs.values())},
        "reports": len(reports), "real_reports": real, "precision": real / len(reports) if reports else None,
        "exact_minutes": exact_min, "exact_reports": exact_reports,
        "false_per_10min_exact": exact_reports / exact_min * 10 if exact_min else None,
        "far_reports": far, "rest_minutes": rest_min, "far_per_10min_rest": far / rest_min * 10 if rest_min else None,
        "boundaries": {
            "count": int(len(a)),
            "mean": float(a.mean()) if len(a) else None, "median": float(np.median(a)) if len(a) else None,
            "p97": float(np.percentile(a, 97)) if len(a) else None, "worst": float(a.max()) if len(a) else None,
            "within_0_5": float(np.mean(a <= 0.5)) if len(a) else None,
            "worst5": worst,
        },
        "skipped": sum(s["skipped"] for s in scores), "skipped_zero": sum(s["skipped_zero"] for s in scores),
        "read_zero": sum(s["read_zero"] for s in scores),
        "fragments": sum(s["fragments"] for s in scores), "doubtful": sum(s["doubtful"] for s in scores),
        "calibration": calibration(reports, errs),
    }


REPORT_BINS = (0.0, 0.6, 0.8, 1.01)
FRAGMENT_BINS = (0.0, 0.5, 0.8, 1.01)      # 0.5: DOUBT


def calibration(reports: list[dict], errors: list[dict]) -> dict:
    """What confidence means on this set: per confidence bin, the share of reports that are real, and
    the share of read fragments whose boundary is within 0.5 s of the truth."""
    rep, frag = [], []
    for lo, hi in zip(REPORT_BINS, REPORT_BINS[1:]):
        rs = [r for r in reports if lo <= float(r.get("confidence", 0.0)) < hi]
        rep.append({"from": lo, "to": min(hi, 1.0), "count": len(rs),
                    "real": sum(r["real"] for r in rs) / len(rs) if rs else None})
    for lo, hi in zip(FRAGMENT_BINS, FRAGMENT_BINS[1:]):
        es = [e for e in errors if lo <= e.get("confidence", 1.0) < hi]
        frag.append({"from": lo, "to": min(hi, 1.0), "count": len(es),
                     "within_0_5": float(np.mean([abs(e["error"]) <= 0.5 for e in es])) if es else None})
    return {"reports": rep, "fragments": frag}


def _pct(x) -> str:
    return "-" if x is None else f"{x * 100:.1f}%"


def _ms(x) -> str:
    return "-" if x is None else f"{x * 1000:.0f} ms"


def _rate(x) -> str:
    return "-" if x is None else f"{x:.2f}"


def render(title: str, s: dict, demo: bool = False) -> str:
    out = [f"== {title}: {s['items']} items ({s['exact_items']} exact), {s['minutes']:.1f} min, "
           f"{s['all']['planted']} deviations planted, {s['reports']} reported"]
    if s["all"]["planted"] or s["reports"]:
        out.append(f"  {'kind':<9}{'planted':>8}{'found':>7}{'recall':>8}{'kind ok':>9}{'reported':>10}{'real':>6}")
        for k in KINDS:
            r = s["kinds"][k]
            out.append(f"  {k:<9}{r['planted']:>8}{r['found']:>7}{_pct(r['recall']):>8}{_pct(r['kind_accuracy']):>9}"
                       f"{r['reported']:>10}{r['real']:>6}")
        r = s["all"]
        out.append(f"  {'all':<9}{r['planted']:>8}{r['found']:>7}{_pct(r['recall']):>8}{_pct(r['kind_accuracy']):>9}"
                   f"{s['reports']:>10}{s['real_reports']:>6}")
        if s["skip_runs"]["planted"]:
            runs = s["skip_runs"]
            out.append(f"  skipped runs (4-10 sentences): {runs['found']} of {runs['planted']} found")
        out.append(f"  precision: {_pct(s['precision'])} ({s['real_reports']} of {s['reports']} reports real)")
    out.append(f"  false reports: {s['exact_reports']} on {s['exact_minutes']:.1f} min of EXACT reading "
               f"({_rate(s['false_per_10min_exact'])} per 10 min); {s['far_reports']} far from any planted "
               f"deviation on all items ({_rate(s['far_per_10min_rest'])} per 10 min of the rest, "
               f"{s['rest_minutes']:.1f} min)")
    b = s["boundaries"]
    out.append(f"  boundaries ({b['count']} read fragments after the first): mean {_ms(b['mean'])}, median "
               f"{_ms(b['median'])}, p97 {_ms(b['p97'])}, worst {_ms(b['worst'])}, "
               f"within 0.5 s {_pct(b['within_0_5'])}")
    for e in b["worst5"]:
        near = f" [next to {', '.join(e['near'])}]" if e["near"] else ""
        out.append(f"    {e['error']:+8.3f} s  {e['item']} {e['fragment']}{near}  {e['text'][:60]}")
    if s["skipped"]:
        out.append(f"  skipped fragments given no time (begin == end): {s['skipped_zero']} of {s['skipped']}; "
                   f"read fragments given none: {s['read_zero']}")
    elif s["read_zero"]:
        out.append(f"  read fragments given no time: {s['read_zero']}")
    out.append(f"  fragments with confidence below {DOUBT}: {s['doubtful']} of {s['fragments']}"
               + (f"; reports on the demo recordings: {s['reports']}" if demo else ""))
    cal = s["calibration"]
    if any(b["count"] for b in cal["reports"]):
        out.append("  confidence of reports -> share real: " + ", ".join(
            f"[{b['from']:.1f}, {b['to']:.1f}) {b['count']} -> {_pct(b['real'])}" for b in cal["reports"]))
    out.append("  confidence of read fragments -> boundary within 0.5 s: " + ", ".join(
        f"[{b['from']:.1f}, {b['to']:.1f}) {b['count']} -> {_pct(b['within_0_5'])}" for b in cal["fragments"]))
    return "\n".join(out)


# ---------------------------------------------------------------------------- the run


def _library():
    """tests/deviations.py (tests/ first on the path: this script has the same name)."""
    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    import importlib

    mod = importlib.import_module("deviations")
    if Path(mod.__file__).resolve().parent != ROOT / "tests":
        raise SystemExit(f"imported the wrong deviations module: {mod.__file__}")
    return mod


def build_set(lib, only: str | None, quick: bool, jobs: int) -> tuple[list, dict[str, str]]:
    items, notes = [], {}
    if only in (None, "flite"):
        specs = lib.flite_specs()
        if quick:
            specs = specs[:3] + [s for s in specs if s.n_dev == 0][:1]
        items += lib.ensure_flite(specs, jobs=jobs)
        notes["flite"] = str(lib.flite_cache())
    if only in (None, "real"):
        sets = lib.real_sets()
        if sets:
            specs = lib.real_specs(sets)
            if quick:
                specs = [s for s in specs if s.n_dev][:1] + [s for s in specs if not s.n_dev][:1]
            items += lib.ensure_real(specs, sets)
            notes["real"] = str(lib.real_cache(sets))
        else:
            notes["real"] = "no real speech (tests/realspeech.py missing or empty)"
    if only in (None, "demo"):
        demo = lib.ensure_demo(list(QUICK_DEMO) if quick else None)
        items += demo
        notes["demo"] = str(demo[0].audio.parent.parent) if demo else "none"
    return items, notes


def align_one(item, out: Path, code: Path = ROOT) -> tuple[dict | None, float, str]:
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "pipeline", "align", str(item.audio.resolve()),
                        str(item.text.resolve()), "-o", str(out.resolve())],
                       capture_output=True, text=True, cwd=code)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        return None, wall, (r.stderr or r.stdout or f"exit {r.returncode}").strip()[-500:]
    return json.loads(out.read_text(encoding="utf-8")), wall, ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a small subset (4 flite, 2 real, 2 demo items)")
    ap.add_argument("--only", choices=SOURCES, default=None)
    ap.add_argument("--jobs", type=int, default=2, help="alignments (and generations) at once (default 2)")
    ap.add_argument("--keep", type=Path, default=None, help="keep the sync maps in this folder")
    ap.add_argument("--json", type=Path, default=None, help="write the figures (and each item's scores) here")
    ap.add_argument("--items", default=None, help="only the items whose name contains this")
    ap.add_argument("--code", type=Path, default=ROOT,
                    help="run `python -m pipeline align` in this folder (another version of the aligner, "
                         "e.g. `git archive HEAD pipeline | tar -x -C /tmp/base`); default: this checkout")
    args = ap.parse_args(argv)

    lib = _library()
    t0 = time.perf_counter()
    items, notes = build_set(lib, args.only, args.quick, args.jobs)
    if args.items:
        items = [it for it in items if args.items in it.name]
    t_build = time.perf_counter() - t0
    if not items:
        print("no items", file=sys.stderr)
        return 1
    for src, note in notes.items():
        print(f"{src}: {note}")
    if args.code.resolve() != ROOT:
        print(f"aligner: python -m pipeline in {args.code}")
    print(f"{len(items)} items ready in {t_build:.1f} s; aligning {args.jobs} at a time")

    with tempfile.TemporaryDirectory(prefix="bench-deviations-") as tmp:
        keep = args.keep or Path(tmp)
        t1 = time.perf_counter()

        def run(item):
            out = keep / item.source / f"{item.name}.json"
            out.parent.mkdir(parents=True, exist_ok=True)
            return (item, *align_one(item, out, args.code))

        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            results = list(pool.map(run, items))
        t_align = time.perf_counter() - t1

    scores, failed = [], []
    for item, sync, _wall, err in results:
        if sync is None:
            failed.append((item.name, err))
            continue
        scores.append(score_item(item.truth, sync, name=item.name, source=item.source))
    audio_min = sum(s["duration"] for s in scores) / 60
    figures: dict = {}
    for src in SOURCES:
        part = [s for s in scores if s["source"] == src]
        if part:
            figures[src] = summarise(part)
            print(render(src, figures[src], demo=src == "demo"))
    if len({s["source"] for s in scores}) > 1:
        figures["total"] = summarise(scores)
        print(render("total", figures["total"]))
    for name, err in failed:
        print(f"FAILED {name}: {err}")
    print(f"time: {t_build:.1f} s to build the set, {t_align:.1f} s to align {len(items)} items "
          f"({audio_min:.1f} min of audio), {time.perf_counter() - t0:.1f} s in all")
    if args.keep:
        print(f"sync maps kept in {args.keep}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"figures": figures, "cache": notes, "failed": failed,
                                         "time": {"build": t_build, "align": t_align},
                                         "items": scores}, indent=1, default=float) + "\n", encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
