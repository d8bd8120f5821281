"""The files that pass between stages (pipeline/model/contracts.py): each read back is the same typed value,
each written is the same bytes the stages wrote before the types existed, and each bad file is coded
problems naming it (never a traceback)."""
from __future__ import annotations

import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipeline.model import contracts as C  # noqa: E402
from pipeline.model.problems import InputError  # noqa: E402

BUILD = ROOT / "build"

SYNC = C.SyncMap(
    part="tale", audio="tale.flac", duration=9.0,
    fragments=(C.Fragment(id="tale-s0001", begin=0.0, end=3.2504, text="Café “one”.", confidence=0.93),
               C.Fragment(id="tale-s0002", begin=3.2504, end=3.2504, text="Skipped.", confidence=0.05),
               C.Fragment(id="tale-s0003", begin=3.2504, end=9.0, text="Three.")),
    chapters=(C.Chapter(id="tale-c01", title="A Tale", begin=0.0, end=9.0),),
    deviations=(C.Deviation(kind="skip", begin=3.2504, end=3.2504, fragment="tale-s0002", text="Skipped.",
                            confidence=0.95),
                C.Deviation(kind="extra", begin=6.0, end=7.5, fragment="tale-s0003", text="Three.", confidence=0.7)))

REPORT = C.AudioReport(
    analysis=C.Analysis(source="recordings/tale.wav", codec="pcm_s16le", sample_rate=44100, channels=2, duration=12.5,
                        integrated=-23.4, peak_db=-math.inf, dead_channel=1, speech_start=0.75, speech_end=11.9),
    plan=C.RenderPlan(trim_start=0.25, trim_end=12.4, channels=1, gain_db=7.85, limiter=False, limit_db=-1.7),
    filter="afade=t=in:d=0.05", bitrate=96)


def problems(excinfo: pytest.ExceptionInfo[InputError]) -> list[str]:
    return [f"{p.code} {Path(p.file).name} {p.message}" for p in excinfo.value.problems]


# ---------------------------------------------------------------------------- round trips


def test_sync_map_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "tale.json"
    C.write_syncmap(path, SYNC)
    back = C.read_syncmap(path)
    # what the file keeps: times to the millisecond; everything else as it was
    assert back.fragments[0].end == 3.25 and back.deviations[0].begin == 3.25
    assert back == replace(SYNC, fragments=tuple(replace(f, begin=round(f.begin, 3), end=round(f.end, 3))
                                                 for f in SYNC.fragments),
                           deviations=tuple(replace(d, begin=round(d.begin, 3), end=round(d.end, 3))
                                            for d in SYNC.deviations))
    assert back.to_json() == path.read_text(encoding="utf-8")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert "confidence" not in data["fragments"][2]          # an unknown confidence is left out, not null
    assert "Café “one”." in path.read_text(encoding="utf-8")  # UTF-8, not escapes


def test_other_contracts_round_trip(tmp_path: Path) -> None:
    C.write_audio_report(tmp_path / "a.json", REPORT)
    assert C.read_audio_report(tmp_path / "a.json") == REPORT
    assert "-Infinity" in (tmp_path / "a.json").read_text()
    assert REPORT.trim_start == 0.25 and REPORT.recording == "recordings/tale.wav"
    loud = C.LoudnessRecord(integrated=-16.02, true_peak=-1.31, duration=12.15, payload_sha256="ab" * 32)
    C.write_loudness(tmp_path / "l.json", loud)
    assert C.read_loudness(tmp_path / "l.json") == loud
    cuts = C.CutList(part="tale", master="build/master/tale.flac", sample_rate=44100, crossfade=0.015,
                     pause_threshold_db=-41.5, duration_before=9.0, duration_after=7.2, removed=1.8,
                     cuts=(C.CutSpan(begin=5.4, end=7.2, duration=1.8, at=5.4, fragment="tale-s0003", text="Three.",
                                     retakes=(C.CutRetake(begin=5.85, end=6.8, fragment="tale-s0003", confidence=0.9),),
                                     also_removed=(C.AlsoRemoved(kind="extra", begin=6.0, end=6.5,
                                                                 fragment="tale-s0003"),)),),
                     kept=(C.KeptRetake(begin=1.0, end=1.2, fragment="tale-s0001", text="One.", reason="shorter"),),
                     audio=C.CutAudio(key="k", outputs={"flac": "1", "mp3": "2", "epub": "2"}))
    C.write_cuts(tmp_path / "c.json", cuts)
    assert C.read_cuts(tmp_path / "c.json") == cuts
    for with_cuts in (None, (C.ProofCut(begin=5.4, end=7.2, duration=1.8, at=5.4, fragment="tale-s0003",
                                        text="Three.", recording_begin=5.65, recording_end=7.45,
                                        label="retake tale-s0003: Three. [cut]"),)):
        proof = C.Proof(part="tale", trim_start=0.25, recording="recordings/tale.wav", labels="build/proof/tale.txt",
                        accept_file="recordings/tale.labels.txt",
                        deviations=(C.ProofDeviation(kind="skip", begin=3.25, end=3.25, fragment="tale-s0002",
                                                     text="Skipped.", confidence=None, recording_begin=3.5,
                                                     recording_end=3.5, label="skip tale-s0002: Skipped.",
                                                     accepted=True),),
                        cuts=with_cuts)
        (tmp_path / "p.json").write_text(proof.to_json(), encoding="utf-8")
        assert C.read_proof(tmp_path / "p.json") == proof
        assert ('"cuts"' in (tmp_path / "p.json").read_text()) == (with_cuts is not None)


@pytest.mark.parametrize("folder, read", [("sync", C.read_syncmap), ("audio", C.read_audio_report),
                                          ("loudness", C.read_loudness), ("proof", C.read_proof),
                                          ("site/chapters", C.read_podcast_chapters)])
def test_files_the_build_wrote_read_back_to_the_same_bytes(folder: str, read) -> None:
    """What `make site` wrote, read through its type and written again, is byte-identical."""
    paths = sorted((BUILD / folder).glob("*.json"))
    if not paths:
        pytest.skip(f"no build/{folder}/ (run `make site`)")
    for path in paths:
        assert read(path).to_json() == path.read_text(encoding="utf-8"), path


def test_trim_is_a_public_field_of_the_report(tmp_path: Path) -> None:
    """The aligner and the proof take the head trimmed off the recording from the report's type."""
    C.write_audio_report(tmp_path / "a.json", REPORT)
    assert C.read_audio_report(tmp_path / "a.json").trim_start == REPORT.plan.trim_start


# ---------------------------------------------------------------------------- helpers over the types


def test_cut_time_and_back() -> None:
    cuts = [C.CutRetake(begin=2.0, end=3.0, fragment="x", confidence=None),
            C.CutRetake(begin=5.0, end=7.5, fragment="y", confidence=None)]
    for t in (0.0, 1.99, 3.0, 4.2, 7.5, 9.0):
        assert C.uncut_time(C.cut_time(t, cuts), cuts) == pytest.approx(t)
    assert C.cut_time(2.5, cuts) == 2.0


def test_mismatch_names_what_differs() -> None:
    assert C.mismatch(SYNC, ["tale-s0001", "tale-s0002", "tale-s0003"]) is None
    assert C.mismatch(SYNC, ["tale-s0001", "tale-s0002"]) == "1 unknown fragment(s) (first tale-s0003)"
    assert C.mismatch(SYNC, ["tale-s0001", "tale-s0002", "tale-s0003", "tale-s0004"]).startswith("1 sentence(s)")
    assert C.mismatch(SYNC, ["tale-s0002", "tale-s0001", "tale-s0003"]) == "fragments out of text order"


# ---------------------------------------------------------------------------- bad files


def write(tmp_path: Path, data: object, name: str = "bad.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def good_sync() -> dict:
    return json.loads(SYNC.to_json())


def test_sync_map_problems(tmp_path: Path) -> None:
    with pytest.raises(InputError) as e:
        C.read_syncmap(tmp_path / "none.json")
    assert problems(e) == ["E-SYNC-001 none.json sync map not found (run the align stage)"]
    with pytest.raises(InputError) as e:
        C.read_syncmap(write(tmp_path, '{"part": "x",\n "duration": }'))
    assert e.value.problems[0].code == "E-SYNC-002" and e.value.problems[0].line == 2
    with pytest.raises(InputError) as e:
        C.read_syncmap(write(tmp_path, "[1, 2]"))
    assert problems(e) == ["E-SYNC-003 bad.json sync map is not a JSON object"]
    with pytest.raises(InputError) as e:
        C.read_syncmap(write(tmp_path, {"audio": "x.flac"}))
    assert [p.split(" ", 2)[2] for p in problems(e)] == [
        "sync map has no 'part'", "sync map has no 'duration'", "sync map has no 'fragments'"]
    data = good_sync()
    data["fragments"][0]["begin"] = "0"
    data["fragments"][1]["confidence"] = True
    del data["fragments"][2]["text"]
    data["chapters"][0]["title"] = 3
    with pytest.raises(InputError) as e:
        C.read_syncmap(write(tmp_path, data))
    assert problems(e) == ["E-SYNC-003 bad.json fragment 0: 'begin' is not a number ('0')",
                           "E-SYNC-003 bad.json fragment 1: 'confidence' is not a number (True)",
                           "E-SYNC-003 bad.json fragment 2 lacks id, begin, end or text",
                           "E-SYNC-003 bad.json chapter 0: 'title' is not a string (3)"]
    data = good_sync()
    data["fragments"][2]["begin"] = 4.0
    with pytest.raises(InputError) as e:
        C.read_syncmap(write(tmp_path, data))
    assert problems(e) == ["E-SYNC-004 bad.json fragment tale-s0003 (4.0–9.0) is not contiguous with the one before"]
    data = good_sync()
    data["deviations"][0]["kind"] = "mumble"
    data["deviations"][1]["fragment"] = ["tale-s0003"]
    with pytest.raises(InputError) as e:
        C.read_syncmap(write(tmp_path, data))
    assert problems(e) == [f"E-SYNC-005 bad.json deviation {i} is not a known kind naming a fragment of this map with "
                           "a begin and an end" for i in (0, 1)]


def test_other_contracts_problems(tmp_path: Path) -> None:
    with pytest.raises(InputError) as e:
        C.read_audio_report(tmp_path / "none.json")
    assert problems(e) == ["E-AUDIO-007 none.json master's report not found (run the master stage)"]
    report = json.loads(REPORT.to_json())
    del report["plan"]["trim_start"]
    with pytest.raises(InputError) as e:
        C.read_audio_report(write(tmp_path, report))
    assert problems(e) == ["E-AUDIO-007 bad.json plan has no 'trim_start'"]
    with pytest.raises(InputError) as e:
        C.read_audio_report(write(tmp_path, {"analysis": {}}))
    assert problems(e) == ["E-AUDIO-007 bad.json master's report: plan is not a JSON object"]
    with pytest.raises(InputError) as e:
        C.read_loudness(write(tmp_path, {"integrated": -16.0, "true_peak": "loud", "duration": 1.0}))
    assert problems(e) == ["E-AUDIO-008 bad.json loudness record: 'true_peak' is not a number ('loud')",
                           "E-AUDIO-008 bad.json loudness record has no 'payload_sha256'"]
    with pytest.raises(InputError) as e:
        C.read_cuts(tmp_path / "none.json")
    assert problems(e) == ["E-SYNC-006 none.json list of cuts not found (run the cut stage)"]
    with pytest.raises(InputError) as e:
        C.read_cuts(write(tmp_path, "\xff"))
    assert [p.split(" ", 1)[0] for p in problems(e)] == ["E-SYNC-006"]
    with pytest.raises(InputError) as e:
        C.read_proof(write(tmp_path, {"part": "x", "deviations": "none"}))
    assert problems(e)[0] == "E-PROOF-002 bad.json proof: 'deviations' is missing or not a list"


def test_envelope_and_podcast_chapters(tmp_path: Path) -> None:
    env = np.array([[-3, 4], [-100, 90], [0, 0]], np.int16)
    C.write_envelope(tmp_path / "w.npy", env)
    back = C.read_envelope(tmp_path / "w.npy")
    assert back.dtype == np.int16 and (back == env).all()
    for bad in (np.zeros((3, 3), np.int16), np.zeros((3, 2), np.float32)):
        np.save(tmp_path / "bad.npy", bad)
        with pytest.raises(InputError) as e:
            C.read_envelope(tmp_path / "bad.npy")
        assert problems(e) == ["E-REPORT-002 bad.npy not a waveform envelope (int16, frames x 2)"]
    (tmp_path / "text.npy").write_text("no")
    with pytest.raises(InputError) as e:
        C.read_envelope(tmp_path / "text.npy")
    assert problems(e)[0].startswith("E-REPORT-002 text.npy not a waveform envelope: ")
    chapters = C.PodcastChapters(chapters=(C.PodcastChapter(0.0, 12.3456, "One & two"),
                                           C.PodcastChapter(12.3456, 30.0, "Three")), title="A Tale")
    (tmp_path / "c.json").write_text(chapters.to_json(), encoding="utf-8")
    assert json.loads(chapters.to_json()) == {"version": "1.2.0", "title": "A Tale", "chapters": [
        {"startTime": 0.0, "endTime": 12.346, "title": "One & two"},
        {"startTime": 12.346, "endTime": 30.0, "title": "Three"}]}
    assert C.read_podcast_chapters(tmp_path / "c.json").chapters[1].start_time == 12.346
    (tmp_path / "c.json").write_text('{"version": "1.2.0", "chapters": [{"startTime": 1}, {"title": "x"}]}')
    assert C.read_podcast_chapters(write(tmp_path, {"chapters": [{"startTime": 1}]})).chapters == (
        C.PodcastChapter(1.0, None, ""),)       # endTime and titles are optional in the format
    with pytest.raises(InputError) as e:
        C.read_podcast_chapters(tmp_path / "c.json")
    assert problems(e) == ["E-FEED-003 c.json chapters file is not Podcasting 2.0 JSON chapters: "
                           "chapter 1 has no 'startTime'"]


# ---------------------------------------------------------------------------- word timing


def test_words_round_trip_and_problems(tmp_path: Path) -> None:
    assert C.words_of(" Two  words,\tand – a dash. ") == ["Two", "words,", "and", "–", "a", "dash."]
    words = (C.Word(0.2, 0.61234, "Café"), C.Word(0.7, 1.0, "“one”."))
    sync = replace(SYNC, fragments=(replace(SYNC.fragments[0], words=words),) + SYNC.fragments[1:])
    path = tmp_path / "tale.json"
    C.write_syncmap(path, sync)
    back = C.read_syncmap(path)
    assert back.fragments[0].words == (C.Word(0.2, 0.612, "Café"), C.Word(0.7, 1.0, "“one”."))
    assert back.fragments[1].words == ()      # a map without word timing still reads
    assert back.to_json() == path.read_text(encoding="utf-8")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["fragments"][0]["words"][1] == {"begin": 0.7, "end": 1.0, "text": "“one”."}
    assert "words" not in data["fragments"][1]
    # words that are not the text's, out of order, or outside the span: E-SYNC-006
    for bad in ([{"begin": 0.2, "end": 0.6, "text": "Cafe"}, {"begin": 0.7, "end": 1.0, "text": "“one”."}],
                [{"begin": 0.7, "end": 1.0, "text": "Café"}, {"begin": 0.2, "end": 0.6, "text": "“one”."}],
                [{"begin": 0.2, "end": 0.6, "text": "Café"}, {"begin": 0.7, "end": 3.4, "text": "“one”."}]):
        data["fragments"][0]["words"] = bad
        with pytest.raises(InputError) as e:
            C.read_syncmap(write(tmp_path, data))
        assert problems(e) == ["E-SYNC-006 bad.json fragment tale-s0001: its words are not its text's words, "
                               "in order, inside its span"]
    data["fragments"][0]["words"] = [{"begin": 0.2, "text": "Café"}]
    with pytest.raises(InputError) as e:
        C.read_syncmap(write(tmp_path, data))
    assert problems(e) == ["E-SYNC-003 bad.json fragment 0 word 0 has no 'end'"]
