"""bench/deviations.py's scorer alone: the matching rule and the recall / precision / rate arithmetic, on
hand-made truth and report lists (no audio, no aligner)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    name = "bench_deviations"        # not "deviations": tests/deviations.py has that name
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / "deviations.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


B = _bench()


def fid(k: int) -> str:
    return f"f{k:06d}"


def truth(n: int = 20, deviations=(), skipped=(), duration: float = 200.0) -> dict:
    """n fragments 10 s apart (onset at 10 k + 1); skipped ones have read false and no length."""
    frags = []
    for k in range(1, n + 1):
        b = 10.0 * (k - 1) + 1
        read = k not in skipped
        frags.append({"id": fid(k), "text": f"sentence {k}", "read": read, "begin": b, "end": b + 8 if read else b})
    return {"fragments": frags, "deviations": list(deviations), "exact": not deviations, "duration": duration}


def sync(t: dict, reports=(), shift: dict | None = None, conf: dict | None = None) -> dict:
    """A contiguous sync map placing each fragment at its truth onset (+ shift[k])."""
    shift, conf = shift or {}, conf or {}
    begins = [f["begin"] + shift.get(k, 0.0) for k, f in enumerate(t["fragments"], 1)]
    begins[0] = 0.0
    frags = []
    for i, f in enumerate(t["fragments"]):
        end = begins[i + 1] if i + 1 < len(begins) else t["duration"]
        if not f["read"]:
            end = begins[i]
        frags.append({"id": f["id"], "text": f["text"], "begin": begins[i], "end": end,
                      "confidence": conf.get(i + 1, 0.9)})
    return {"fragments": frags, "duration": t["duration"], "deviations": list(reports)}


def dev(kind: str, k: int, begin: float, end: float | None = None, **kw) -> dict:
    return {"kind": kind, "fragment": fid(k), "begin": begin, "end": begin if end is None else end, **kw}


INDEX = {fid(k): k for k in range(1, 31)}


# ---------------------------------------------------------------------------- the matching rule


def test_same_fragment_matches_whatever_the_time() -> None:
    assert B.matches(dev("misread", 7, 150.0, 152.0), dev("misread", 7, 61.0, 69.0), INDEX)


def test_time_overlap_or_within_tolerance_matches() -> None:
    planted = dev("misread", 7, 61.0, 69.0)
    assert B.matches(dev("skip", 12, 68.0, 68.0), planted, INDEX)           # inside the span
    assert B.matches(dev("skip", 12, 69.9, 69.9), planted, INDEX)           # 0.9 s after its end
    assert B.matches(dev("skip", 12, 70.0, 70.0), planted, INDEX)           # exactly 1.0 s
    assert not B.matches(dev("skip", 12, 70.2, 70.2), planted, INDEX)       # 1.2 s: too far
    assert B.matches(dev("extra", 12, 50.0, 60.5), planted, INDEX)          # 0.5 s before its begin
    assert not B.matches(dev("misread", 12, 40.0, 59.5), planted, INDEX)    # 1.5 s before


def test_neighbouring_fragment_only_for_extra_and_retake() -> None:
    # an extra between f6 and f7 belongs to f7; a report naming f6 (the sentence it follows) matches
    assert B.matches(dev("extra", 6, 300.0, 301.0), dev("extra", 7, 58.0, 60.0), INDEX)
    assert B.matches(dev("retake", 8, 300.0, 301.0), dev("retake", 7, 58.0, 60.0), INDEX)
    # the report's kind counts too: a misread planted at 7, reported as a retake on 8
    assert B.matches(dev("retake", 8, 300.0, 301.0), dev("misread", 7, 58.0, 60.0), INDEX)
    # two away, or neither an extra nor a retake: no match
    assert not B.matches(dev("extra", 9, 300.0, 301.0), dev("extra", 7, 58.0, 60.0), INDEX)
    assert not B.matches(dev("skip", 8, 300.0, 300.0), dev("misread", 7, 58.0, 60.0), INDEX)


# ---------------------------------------------------------------------------- one item


def test_found_kind_and_real() -> None:
    planted = [dev("skip", 5, 51.0), dev("retake", 9, 79.0, 80.5), dev("extra", 14, 128.0, 130.0),
               dev("misread", 18, 171.0, 179.0)]
    t = truth(deviations=planted, skipped={5})
    reports = [dev("skip", 5, 51.0),                  # right, same fragment
               dev("extra", 8, 79.2, 80.4),           # the retake found by time, as the wrong kind
               dev("misread", 11, 105.0, 108.0),      # nothing planted near: false
               dev("skip", 20, 199.0)]                # far: false
    s = B.score_item(t, sync(t, reports), name="x")
    got = {p["kind"]: (p["found"], p["kind_ok"]) for p in s["planted"]}
    assert got == {"skip": (True, True), "retake": (True, False), "extra": (False, False),
                   "misread": (False, False)}
    assert [r["real"] for r in s["reports"]] == [True, True, False, False]
    assert s["skipped"] == 1 and s["skipped_zero"] == 1 and s["read_zero"] == 0


def test_several_reports_on_a_skipped_run_all_count_as_real() -> None:
    run = [fid(6), fid(10)]
    planted = [dev("skip", k, 61.0, run=run) for k in range(6, 11)]
    t = truth(deviations=planted, skipped=set(range(6, 11)))
    # one report per skipped sentence, plus one more over the whole gap naming the sentence before it
    reports = [dev("skip", k, 61.0) for k in range(6, 11)] + [dev("skip", 5, 60.5, 61.0)]
    s = B.score_item(t, sync(t, reports), name="run")
    assert all(r["real"] for r in s["reports"])
    assert all(p["found"] and p["kind_ok"] for p in s["planted"])
    f = B.summarise([s])
    assert f["skip_runs"] == {"planted": 1, "found": 1}
    assert f["precision"] == 1.0 and f["kinds"]["skip"]["planted"] == 5


def test_a_single_report_finds_a_whole_run_by_time() -> None:
    planted = [dev("skip", k, 61.0, run=[fid(6), fid(9)]) for k in range(6, 10)]
    t = truth(deviations=planted, skipped=set(range(6, 10)))
    s = B.score_item(t, sync(t, [dev("skip", 6, 61.0)]), name="run")
    assert all(p["found"] for p in s["planted"])


def test_sync_map_without_deviations_key_reports_none() -> None:
    t = truth(deviations=[dev("misread", 3, 21.0, 29.0)])
    sm = sync(t)
    del sm["deviations"]
    s = B.score_item(t, sm, name="old")
    assert s["reports"] == [] and not s["planted"][0]["found"]


def test_fragment_lists_must_agree() -> None:
    t = truth()
    sm = sync(t)
    sm["fragments"] = sm["fragments"][:-1]
    with pytest.raises(ValueError):
        B.score_item(t, sm, name="short")


def test_boundary_errors_skip_the_first_and_the_unread() -> None:
    t = truth(deviations=[dev("skip", 4, 41.0)], skipped={4})
    s = B.score_item(t, sync(t, shift={4: 30.0, 7: 0.25, 12: -0.8}), name="b")
    errs = {e["fragment"]: e["error"] for e in s["errors"]}
    assert fid(1) not in errs and fid(4) not in errs and len(errs) == 18
    assert errs[fid(7)] == pytest.approx(0.25) and errs[fid(12)] == pytest.approx(-0.8)
    b = B.summarise([s])["boundaries"]
    assert b["worst"] == pytest.approx(0.8) and b["mean"] == pytest.approx(1.05 / 18)
    assert b["within_0_5"] == pytest.approx(17 / 18)
    assert b["worst5"][0]["fragment"] == fid(12) and b["worst5"][1]["fragment"] == fid(7)
    assert b["worst5"][0]["near"] == [] and B.summarise([s])["boundaries"]["count"] == 18


# ---------------------------------------------------------------------------- the figures


def test_recall_precision_and_rates() -> None:
    # item a: 4 planted (2 found, 1 of them of the right kind), 3 reports (2 real); 300 s
    pa = [dev("skip", 3, 21.0), dev("extra", 8, 68.0, 70.0), dev("misread", 12, 111.0, 119.0),
          dev("retake", 16, 149.0, 150.0)]
    ta = truth(deviations=pa, skipped={3}, duration=300.0)
    ra = [dev("skip", 3, 21.0), dev("misread", 8, 68.5, 69.0), dev("extra", 19, 250.0, 252.0)]
    # item b: exact, 600 s, two (false) reports; item c: exact, 600 s, none
    tb, tc = truth(duration=600.0), truth(duration=600.0)
    rb = [dev("misread", 2, 11.0, 19.0), dev("extra", 10, 95.0, 97.0)]
    scores = [B.score_item(ta, sync(ta, ra), "a"), B.score_item(tb, sync(tb, rb), "b"),
              B.score_item(tc, sync(tc), "c")]
    f = B.summarise(scores)
    assert f["all"] == {"planted": 4, "found": 2, "recall": 0.5, "kind_ok": 1, "kind_accuracy": 0.5}
    assert f["kinds"]["skip"] == {"planted": 1, "found": 1, "recall": 1.0, "kind_ok": 1, "kind_accuracy": 1.0,
                                  "reported": 1, "real": 1}
    assert f["kinds"]["extra"]["found"] == 1 and f["kinds"]["extra"]["kind_accuracy"] == 0.0
    assert f["kinds"]["extra"]["reported"] == 2 and f["kinds"]["extra"]["real"] == 0
    assert f["kinds"]["misread"]["recall"] == 0.0 and f["kinds"]["misread"]["kind_accuracy"] is None
    assert f["kinds"]["misread"]["reported"] == 2 and f["kinds"]["misread"]["real"] == 1
    assert f["reports"] == 5 and f["real_reports"] == 2 and f["precision"] == pytest.approx(0.4)
    # EXACT reading: 2 reports on 20 minutes
    assert f["exact_items"] == 2 and f["exact_minutes"] == pytest.approx(20.0)
    assert f["false_per_10min_exact"] == pytest.approx(1.0)
    # far reports: 1 on a + 2 on b; the rest = 1500 s less a's planted spans widened by 1 s
    widened = (22 - 20) + (71 - 67) + (120 - 110) + (151 - 148)
    assert f["far_reports"] == 3
    assert f["rest_minutes"] == pytest.approx((1500 - widened) / 60)
    assert f["far_per_10min_rest"] == pytest.approx(3 / ((1500 - widened) / 60) * 10)


def test_no_reports_and_nothing_planted() -> None:
    t = truth(duration=120.0)
    f = B.summarise([B.score_item(t, sync(t, conf={3: 0.2, 5: 0.49, 6: 0.5}), "e")])
    assert f["all"]["recall"] is None and f["precision"] is None
    assert f["false_per_10min_exact"] == 0.0 and f["far_per_10min_rest"] == 0.0
    assert f["doubtful"] == 2 and B.DOUBT == 0.5
    assert "0.00 per 10 min" in B.render("demo", f, demo=True)


def test_overlapping_planted_spans_count_once_in_the_rest() -> None:
    pl = [dev("skip", k, 61.0) for k in range(6, 9)] + [dev("extra", 9, 61.5, 63.0)]
    t = truth(deviations=pl, skipped={6, 7, 8}, duration=200.0)
    s = B.score_item(t, sync(t), "o")
    assert s["rest"] == pytest.approx(200 - (64.0 - 60.0))


# ---------------------------------------------------------------------------- the planting (no flite)


def _utterances(n: int = 40, seed: int = 0):
    """Stand-ins for recorded utterances: 'syllables' of noise (4 a second) between 0.2-0.4 s of room tone."""
    import numpy as np

    rng = np.random.default_rng(seed)
    words = "people often remember small kindness shared between neighbours during difficult winters".split()
    out = []
    for i in range(n):
        k = int(rng.integers(6, 14))
        syl = [rng.normal(0, 0.3, int(0.25 * 16000)) * np.hanning(int(0.25 * 16000)) for _ in range(k)]
        speech = np.concatenate(syl)
        room = lambda s: rng.normal(0, 0.001, int(s * 16000))   # noqa: E731
        x = np.concatenate([room(rng.uniform(0.2, 0.4)), speech, room(rng.uniform(0.2, 0.4))]).astype(np.float32)
        out.append((x, " ".join(rng.choice(words, k)).capitalize() + f" {i}."))
    return out


def test_real_planting_truth_is_consistent() -> None:
    import numpy as np

    D = B._library()
    utts = _utterances()
    audio, lines, t = D.make_real_item("r", utts, seed=4, n_dev=6)
    again = D.make_real_item("r", utts, seed=4, n_dev=6)
    assert np.array_equal(audio, again[0]) and lines == again[1]                 # deterministic
    frags, devs = t["fragments"], t["deviations"]
    assert [f["id"] for f in frags] == [f"f{k:06d}" for k in range(1, len(lines) + 1)]
    assert [f["text"] for f in frags] == lines and not t["exact"]
    assert t["duration"] == pytest.approx(len(audio) / 16000)
    n_extra = sum(d["kind"] == "extra" for d in devs)
    assert len(lines) == len(utts) - n_extra - t["unused_utterances"]
    assert len({d["kind"] for d in devs}) >= 3
    ids = {f["id"]: f for f in frags}

    def level(a: float, b: float) -> float:
        return float(np.sqrt(np.mean(audio[int(a * 16000):int(b * 16000)] ** 2)))

    for f in frags:
        if f["read"]:                       # speech right after the onset, room tone just before it
            assert f["begin"] < f["end"] and level(f["begin"], f["begin"] + 0.1) > 10 * level(f["begin"] - 0.1, f["begin"] - 0.02)
    order = [f["begin"] for f in frags if f["read"]]
    assert order == sorted(order)
    for d in devs:
        f = ids[d["fragment"]]
        if d["kind"] == "skip":
            assert not f["read"] and d["begin"] == d["end"] == f["begin"] == f["end"]
        elif d["kind"] == "retake":         # the false start(s) come before the sentence's full take
            assert f["read"] and d["begin"] < d["end"] < f["begin"] <= d["end"] + 1.3
        elif d["kind"] == "extra":
            assert f["read"] and (d["end"] < f["begin"] or f["id"] == frags[-1]["id"])
        else:                               # the TEXT line altered, the audio as read
            assert d["kind"] == "misread" and f["read"] and f["said"] != f["text"]
            assert (d["begin"], d["end"]) == (f["begin"], f["end"])
    exact = D.make_real_item("e", utts, seed=5, n_dev=0)[2]
    assert exact["exact"] and not exact["deviations"] and all(f["read"] for f in exact["fragments"])
