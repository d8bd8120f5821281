"""Proofing: a part's deviations from the text as Audacity labels over the recording, accepted by a
line in the part's label file, in the release report and the release gate.

Sync maps with deviations are written by hand; the master stage's report gives the head trimmed off the
recording (1.2 s), so every label must sit 1.2 s later than the sync map's time."""
from __future__ import annotations

import html.parser
import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipeline import cli  # noqa: E402
from pipeline.model.contracts import (  # noqa: E402
    Analysis,
    AudioReport,
    Chapter,
    Deviation,
    Fragment,
    RenderPlan,
    SyncMap,
    write_audio_report,
    write_syncmap,
)
from pipeline.model.problems import InputError  # noqa: E402
from pipeline.model.sources import AudioSettings, ProofSettings  # noqa: E402
from pipeline.report import facts, report, timeline  # noqa: E402
from pipeline.stages import proof  # noqa: E402

TRIM = 1.2
DURATION = 6.0
FRAGMENTS = [
    ("tiny-s0001", 0.0, 1.0, "Tiny"),
    ("tiny-s0002", 1.0, 2.0, "A first sentence, read twice by the narrator who started it over."),
    ("tiny-s0003", 2.0, 3.0, "A second sentence."),
    ("tiny-s0004", 3.0, 3.0, "A sentence the narrator skipped."),
    ("tiny-s0005", 3.0, 6.0, "The last sentence."),
]
DEVIATIONS = [
    {"kind": "retake", "begin": 1.0, "end": 1.4, "fragment": "tiny-s0002", "text": FRAGMENTS[1][3], "confidence": 0.8},
    {"kind": "skip", "begin": 3.0, "end": 3.0, "fragment": "tiny-s0004", "text": FRAGMENTS[3][3], "confidence": 0.95},
    {"kind": "extra", "begin": 4.5, "end": 4.75, "fragment": "tiny-s0005", "text": FRAGMENTS[4][3], "confidence": 0.6},
]


def make_sync(deviations=DEVIATIONS) -> SyncMap:
    return SyncMap(part="tiny", audio="tiny.flac", duration=DURATION,
                   fragments=tuple(Fragment(id=i, begin=b, end=e, confidence=0.9, text=t) for i, b, e, t in FRAGMENTS),
                   chapters=(Chapter(id="tiny-c01", title="Tiny", begin=0.0, end=DURATION),),
                   deviations=tuple(Deviation(**d) for d in deviations))


def audio_report(trim: float = TRIM) -> AudioReport:
    """A master's report of a 8 s recording trimmed by ``trim`` at the head."""
    return AudioReport(
        analysis=Analysis(source="recordings/tiny.wav", codec="pcm_s16le", sample_rate=44100, channels=1, duration=8.0,
                          integrated=-27.5, peak_db=-6.25, dead_channel=None, speech_start=trim + 0.5, speech_end=6.7),
        plan=RenderPlan(trim_start=trim, trim_end=7.2, channels=1, gain_db=11.0, limiter=True, limit_db=-1.7),
        filter="anull", bitrate=96)


@pytest.fixture()
def build(tmp_path: Path, monkeypatch) -> Path:
    """build/sync/tiny.json and build/audio/tiny.json, with the working directory at tmp_path."""
    monkeypatch.chdir(tmp_path)
    b = tmp_path / "build"
    (b / "audio").mkdir(parents=True)
    write_syncmap(b / "sync" / "tiny.json", make_sync())
    write_audio_report(b / "audio" / "tiny.json", audio_report())
    return b


def run_proof(build: Path, accept: Path | None = None) -> int:
    args = ["proof", str(build / "sync" / "tiny.json"), "--audio-report", str(build / "audio" / "tiny.json"),
            "-o", str(build / "proof" / "tiny.txt"), "--json", str(build / "proof" / "tiny.json")]
    if accept is not None:
        args += ["--accept", str(accept)]
    return cli.main(args)


def labels_of(path: Path) -> list[tuple[str, str, str]]:
    return [tuple(line.split("\t")) for line in path.read_text(encoding="utf-8").splitlines()]


# ---------------------------------------------------------------------------- the stage


def test_labels_are_in_the_recordings_timeline(build: Path, capsys) -> None:
    assert run_proof(build) == 0
    assert "3 deviation(s) not accepted (1 skip, 1 retake, 1 extra), 0 accepted" in capsys.readouterr().out
    labels = labels_of(build / "proof" / "tiny.txt")
    assert [(b, e) for b, e, _ in labels] == [("2.200000", "2.600000"), ("4.200000", "4.200000"),
                                              ("5.700000", "5.950000")]      # the sync map's times + 1.2 s
    assert labels[0][2] == "retake tiny-s0002: A first sentence, read twice by the narrator…"
    assert labels[1][2] == "skip tiny-s0004: A sentence the narrator skipped."
    data = json.loads((build / "proof" / "tiny.json").read_text(encoding="utf-8"))
    assert data["part"] == "tiny" and data["trim_start"] == TRIM and data["labels"] == "build/proof/tiny.txt"
    assert data["accept_file"] == "recordings/tiny.labels.txt"
    # the JSON keeps the master's (the published MP3's) timeline
    assert [(d["kind"], d["begin"], d["end"], d["accepted"]) for d in data["deviations"]] == [
        ("retake", 1.0, 1.4, False), ("skip", 3.0, 3.0, False), ("extra", 4.5, 4.75, False)]


def test_no_deviations_gives_an_empty_label_file(build: Path) -> None:
    write_syncmap(build / "sync" / "tiny.json", make_sync(deviations=[]))
    assert run_proof(build) == 0
    assert (build / "proof" / "tiny.txt").read_text(encoding="utf-8") == ""
    assert json.loads((build / "proof" / "tiny.json").read_text(encoding="utf-8"))["deviations"] == []


def test_accepting_by_label_hides_a_deviation(build: Path) -> None:
    accept = build.parent / "recordings" / "tiny.labels.txt"
    accept.parent.mkdir()
    # a boundary label, Audacity's frequency line, and the skip's label from build/proof/tiny.txt accepted
    accept.write_text("2.000000\t2.000000\ttiny-s0003\n\\\t0.0\t0.0\n"
                      "4.200000\t4.200000\taccept skip tiny-s0004: A sentence the narrator skipped.\n"
                      "0\t0\taccept retake tiny-s0005\n", encoding="utf-8")   # no such retake: accepts nothing
    assert run_proof(build, accept) == 0
    labels = labels_of(build / "proof" / "tiny.txt")
    assert [lab.split()[0] for _, _, lab in labels] == ["retake", "extra"]
    data = json.loads((build / "proof" / "tiny.json").read_text(encoding="utf-8"))
    assert [(d["kind"], d["accepted"]) for d in data["deviations"]] == [
        ("retake", False), ("skip", True), ("extra", False)]
    assert data["accept_file"] == "recordings/tiny.labels.txt"
    # matched by kind and fragment id, not time: still accepted after re-alignment moves it
    moved = [dict(d, begin=3.4, end=3.4) if d["kind"] == "skip" else d for d in DEVIATIONS]
    write_syncmap(build / "sync" / "tiny.json", make_sync(moved))
    assert run_proof(build, accept) == 0
    assert "skip" not in (build / "proof" / "tiny.txt").read_text(encoding="utf-8")


def test_the_aligner_skips_accept_lines(tmp_path: Path) -> None:
    from pipeline.stages.align import Fragment, read_labels

    labels = tmp_path / "tiny.labels.txt"
    labels.write_text("2.5\t2.5\ttiny-s0003\n4.2\t4.2\taccept skip tiny-s0004: fine\n", encoding="utf-8")
    frags = [Fragment(i, t) for i, _, _, t in FRAGMENTS]
    assert read_labels(labels, frags) == {2: 2.5}


@pytest.mark.parametrize("content, expected", [
    ("1\t1\taccept skip tiny-s0099: gone\n", ["E-LABEL-005 recordings/tiny.labels.txt:1"]),
    ("1\t1\ttiny-s0002\n2\t2\taccept skipped tiny-s0004\n", ["E-LABEL-004 recordings/tiny.labels.txt:2"]),
    ("1\t1\taccept skip\n", ["E-LABEL-004 recordings/tiny.labels.txt:1"]),
    ("1\t1\taccept skip tiny-s0099\n\n3\t3\taccept misread tiny-s0100\n",
     ["E-LABEL-005 recordings/tiny.labels.txt:1", "E-LABEL-005 recordings/tiny.labels.txt:3"]),
    ("1\taccept skip tiny-s0004\n", ["E-LABEL-001 recordings/tiny.labels.txt:1"]),
    (b"1\t1\ttiny-s0002\n2\t2\taccept skip caf\xe9\n", ["E-LABEL-003 recordings/tiny.labels.txt:2"]),
], ids=["unknown fragment", "unknown kind", "no fragment", "every problem", "bad columns", "invalid utf-8"])
def test_bad_accept_lines(build: Path, capsys, content: str | bytes, expected: list[str]) -> None:
    accept = build.parent / "recordings" / "tiny.labels.txt"
    accept.parent.mkdir()
    accept.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    assert run_proof(build, accept) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert [" ".join(line.split()[1:3]) for line in err] == expected
    assert all(line.startswith("error: E-LABEL-") for line in err) and "Traceback" not in "\n".join(err)
    assert not (build / "proof").exists()          # nothing written, not even half


def test_a_failed_run_leaves_the_previous_outputs(build: Path) -> None:
    assert run_proof(build) == 0
    before = {p.name: p.read_bytes() for p in (build / "proof").iterdir()}
    accept = build.parent / "tiny.labels.txt"
    accept.write_text("1\t1\taccept skip nowhere\n", encoding="utf-8")
    assert run_proof(build, accept) == 1
    assert {p.name: p.read_bytes() for p in (build / "proof").iterdir()} == before


def test_the_stage_runs_as_a_command(build: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "pipeline", "proof", "build/sync/tiny.json", "--audio-report",
                        "build/audio/nothing.json", "-o", "build/proof/tiny.txt", "--json", "build/proof/tiny.json"],
                       capture_output=True, text=True, cwd=build.parent, env={"PYTHONPATH": str(ROOT)})
    assert r.returncode == 1 and r.stderr.startswith("error: E-AUDIO-007 build/audio/nothing.json"), r.stderr
    assert not (build / "proof").exists()


# ---------------------------------------------------------------------------- the gate


def book(strict: bool, parts=("tiny",)) -> SimpleNamespace:
    return SimpleNamespace(id="tiny-book", title="A Tiny Book", language="en-GB", proof=ProofSettings(strict=strict),
                           audio=AudioSettings(-16.0, -1.0, 0.5, 44100, 96, 128, 0),
                           narrated_parts=[SimpleNamespace(id=i, title=i.title()) for i in parts])


def test_strict_gate_fails_until_accepted(build: Path) -> None:
    write_syncmap(build / "sync" / "tiny.json", make_sync([DEVIATIONS[1]]))
    assert run_proof(build) == 0
    r = proof.check_proof(build / "proof", book(strict=True))
    assert not r.passed and r.problems == ["C-PROOF-001 tiny: skip at 0:03.0 tiny-s0004 not accepted"]
    # by default a deviation is a warning: counted, not failed
    r = proof.check_proof(build / "proof", book(strict=False))
    assert r.passed and r.problems == [] and "1 not accepted" in r.summary and "warnings" in r.summary
    # accepted: the strict gate passes
    accept = build.parent / "tiny.labels.txt"
    accept.write_text("4.2\t4.2\taccept skip tiny-s0004: read in the pick-up session\n", encoding="utf-8")
    assert run_proof(build, accept) == 0
    r = proof.check_proof(build / "proof", book(strict=True))
    assert r.passed and r.summary.startswith("1 deviation(s), 1 accepted, 0 not accepted")
    # a narrated part never proofed fails the strict gate
    r = proof.check_proof(build / "proof", book(strict=True, parts=("tiny", "other")))
    assert not r.passed and r.problems == ["C-PROOF-001 other: not proofed (build/proof/other.json missing or unreadable)"]


def test_release_check_exits_3_on_a_strict_deviation(build: Path, monkeypatch, capsys) -> None:
    """`python -m pipeline check` adds the proof to its results: exit 3 with one line per deviation."""
    import pipeline.checks.gate
    import pipeline.model.sources

    assert run_proof(build) == 0
    strict = [book(strict=True)]
    monkeypatch.setattr(pipeline.checks.gate, "load_book", lambda *a, **k: strict[0])
    monkeypatch.setattr(pipeline.checks.gate, "run_checks", lambda *a, **k: [])
    monkeypatch.setattr(pipeline.checks.gate, "collect_parts", lambda *a, **k: [])
    args = ["check", "site", "--texts", "texts", "--build", str(build), "--report", str(build / "report"),
            "-o", str(build / "report" / "checked")]
    assert cli.main(args) == 3
    err = capsys.readouterr().err.splitlines()
    assert err == ["FAIL proof: C-PROOF-001 tiny: retake at 0:01.0–0:01.4 tiny-s0002 not accepted",
                   "FAIL proof: C-PROOF-001 tiny: skip at 0:03.0 tiny-s0004 not accepted",
                   "FAIL proof: C-PROOF-001 tiny: extra at 0:04.5–0:04.8 tiny-s0005 not accepted"]
    assert not (build / "report" / "checked").exists()
    strict[0] = book(strict=False)
    assert cli.main(args) == 0
    assert (build / "report" / "checked").read_text().startswith("proof: 3 deviation(s), 0 accepted, 3 not accepted")


# ---------------------------------------------------------------------------- the report


def ffmpeg(*args: str) -> None:
    from pipeline.system.ffmpeg import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", *args], check=True)


class _Page(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.audio, self.th_without_scope, self.h3, self.captions = [], 0, [], []
        self._in = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "audio":
            self.audio.append(a)
        if tag == "th" and a.get("scope") not in ("col", "row"):
            self.th_without_scope += 1
        if tag in ("h3", "caption"):
            self._in = tag
            (self.h3 if tag == "h3" else self.captions).append("")

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in:
            (self.h3 if self._in == "h3" else self.captions)[-1] += data


def test_report_proof_section(build: Path) -> None:
    from PIL import Image

    site = build.parent / "site"
    (site / "audio").mkdir(parents=True)
    (build / "master").mkdir()
    master = build / "master" / "tiny.flac"
    ffmpeg("-f", "lavfi", "-i", f"sine=f=220:d={DURATION}", "-ac", "1", "-c:a", "flac", str(master))
    ffmpeg("-i", str(master), "-c:a", "libmp3lame", "-b:a", "96k", str(site / "audio" / "tiny.mp3"))
    accept = build.parent / "tiny.labels.txt"
    accept.write_text("2.2\t2.6\taccept retake tiny-s0002\n", encoding="utf-8")
    assert run_proof(build, accept) == 0

    b = book(strict=False)
    parts = facts.collect_parts(b, facts.ReportInputs.under(build, site))
    table = report.write_report(build / "report", b, parts, [])
    page = (build / "report" / "index.html").read_text(encoding="utf-8")
    parsed = _Page()
    parsed.feed(page)
    assert "Proof of Tiny" in parsed.h3 and parsed.th_without_scope == 0
    assert "Deviations from the text in Tiny not accepted (times in the published MP3)" in parsed.captions
    assert "Deviations from the text in Tiny accepted" in parsed.captions
    # one player per deviation not accepted, on the part's MP3, padded by a second each side
    srcs = [a["src"] for a in parsed.audio]
    assert srcs == ["../../site/audio/tiny.mp3#t=2.00,4.00", "../../site/audio/tiny.mp3#t=3.50,5.75"]
    assert all(a.get("preload") == "none" and "controls" in a and a.get("aria-label") for a in parsed.audio)
    assert (build / "report" / srcs[0].split("#")[0]).resolve() == (site / "audio" / "tiny.mp3").resolve()
    assert "A sentence the narrator skipped." in page and "0.95" in page and "0:03.0" in page
    assert re.search(r"retake \(accepted\)</td>", page)
    assert "build/proof/tiny.txt" in page and "recordings/tiny.wav" in page
    assert "accept skip tiny-s0004: A sentence the narrator skipped." in page
    assert "3 deviations from the text" in page                           # the timeline's alt text
    # the terminal: per part the deviations not accepted by kind, the total and the accepted
    lines = table.splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.startswith("proof"))
    assert lines[i].split() == ["proof", "skip", "retake", "extra", "misread", "total", "accepted"]
    assert lines[i + 1].split() == ["tiny", "1", "0", "1", "0", "2", "1"]
    assert lines[i + 2].split() == ["all", "parts", "1", "0", "1", "0", "2", "1"]
    # the deviations drawn on the timeline in their own colour
    img = Image.open(build / "report" / "timelines" / "tiny.png").convert("RGB")
    x = round(timeline.MARGIN + 4.6 / (DURATION / (1600 - 2 * timeline.MARGIN)))
    y = 260 - timeline.AXIS_STRIP - 2 - 2
    assert img.getpixel((x, y)) == timeline.DEVIATION


def test_report_without_proof_says_so(build: Path) -> None:
    b = book(strict=False)
    table = report.write_report(build / "report", b, [facts.PartFacts(id="tiny", title="Tiny")], [])
    assert "Not proofed" in (build / "report" / "index.html").read_text(encoding="utf-8")
    assert "proof: not run" in table


# ---------------------------------------------------------------------------- book.toml


def test_book_toml_proof_strict(tmp_path: Path) -> None:
    from pipeline.model.sources import load_book

    sys.path.insert(0, str(ROOT / "tests"))
    from test_sources import BOOK_TOML, write_book

    texts = write_book(tmp_path / "bad", book=BOOK_TOML + '\n[proof]\nstrict = "no"\n')
    with pytest.raises(InputError) as e:
        load_book(texts)
    assert [f"{p.code} {Path(p.file).name}:{p.line}" for p in e.value.problems] == ["E-BOOK-004 book.toml:16"]
    assert "proof.strict" in str(e.value)
    assert load_book(write_book(tmp_path / "default")).proof.strict is False
    assert load_book(write_book(tmp_path / "strict", book=BOOK_TOML + "\n[proof]\nstrict = true\n")).proof.strict is True
