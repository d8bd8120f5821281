"""The audiobook edition (pipeline/stages/audiobook.py, pipeline/checks/audiobook.py): the demo book's M4B as
`make site` wrote it, played through ffprobe, mutagen and MediaInfo and measured, against the timeline,
the MP3s, book.toml and the masters; and the stage's bad inputs.

Every expectation is worked out here from the sources (book.toml read with tomllib, the sync maps, the MP3s'
CHAP frames, the masters' audio), not taken from the stage: the plan (build/m4b/book.json) is itself checked
against the audio by cross-correlation. The whole book's loudness is measured once per session (about half
a minute) and shared by the loudness test and the release check's tests."""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest
from scratch import shared_template

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipeline.model.sources import load_book  # noqa: E402

TEXTS = ROOT / "texts"
BUILD = ROOT / "build"
SITE = BUILD / "site"
SYNC = BUILD / "sync"
AAC = BUILD / "m4b"
PLAN = AAC / "book.json"
COVER = BUILD / "cover.png"
TOML = tomllib.loads((TEXTS / "book.toml").read_text(encoding="utf-8"))
M4B = SITE / f"{TOML['id']}.m4b"
PRIMING = 1024          # samples: the AAC encoder's priming frame at the start of every part


def _missing() -> str:
    for tool in ("ffmpeg", "ffprobe", "mediainfo"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (.ci/run installs it)"
    for f in (M4B, PLAN, COVER, SITE / "index.html"):
        if not f.is_file():
            return f"{f} not built (make site)"
    return ""


MISSING = _missing()
pytestmark = pytest.mark.skipif(bool(MISSING), reason=MISSING)


# ---------------------------------------------------------------------------- helpers


def ffprobe(path: Path) -> dict:
    r = subprocess.run(["ffprobe", "-v", "error", "-show_chapters", "-show_format", "-show_streams", "-of", "json",
                        str(path)], capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def decode(path: Path, start: float, seconds: float, channels: int | None = None) -> tuple[np.ndarray, int]:
    """``seconds`` of ``path`` from ``start`` as float samples (frames x channels) and the rate. ffmpeg seeks
    to the exact sample, but an AAC decoder's first frame after a seek lacks its overlap: decode from half a
    second earlier and drop that."""
    stream = next(s for s in ffprobe_streams(path) if s["codec_type"] == "audio")
    rate, ch = int(stream["sample_rate"]), channels or int(stream["channels"])
    lead = min(0.5, start)
    r = subprocess.run(["ffmpeg", "-v", "error", "-ss", f"{start - lead:.6f}", "-t", f"{seconds + lead:.6f}",
                        "-i", str(path), "-map", "0:a:0", "-ac", str(ch), "-f", "f32le", "-"],
                       capture_output=True, check=True)
    x = np.frombuffer(r.stdout, dtype="<f4").reshape(-1, ch)
    return x[round(lead * rate):], rate


_STREAMS: dict[Path, list[dict]] = {}


def ffprobe_streams(path: Path) -> list[dict]:
    if path not in _STREAMS:
        _STREAMS[path] = ffprobe(path)["streams"]
    return _STREAMS[path]


def syncmap(part_id: str) -> dict:
    return json.loads((SYNC / f"{part_id}.json").read_text(encoding="utf-8"))


def format_length(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{max(minutes, 1)} min"


def format_size(n: int) -> str:
    return f"{n / 1e6:.0f} MB" if n >= 10e6 else f"{n / 1e6:.1f} MB"


def pipeline_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, cwd=ROOT)


def audiobook_cli(texts: Path, aac: Path, out: Path, sync: Path = SYNC, *extra: str) -> subprocess.CompletedProcess[str]:
    return pipeline_cli("audiobook", str(texts), "--sync", str(sync), "--aac", str(aac), "--cover", str(COVER),
                        "-o", str(out), *extra)


def ebur128(path: Path) -> dict[str, float]:
    """Integrated loudness and true peak of the whole file, as the release measures them (ffmpeg ebur128,
    true peak, mono as dual mono), parsed from ffmpeg's summary."""
    r = subprocess.run(["ffmpeg", "-nostats", "-v", "info", "-i", str(path), "-map", "0:a:0",
                        "-af", "ebur128=peak=true:dualmono=true", "-f", "null", "-"],
                       capture_output=True, text=True, check=True)
    summary = r.stderr[r.stderr.rindex("Summary:"):]
    integrated = re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary)
    peak = re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary)
    assert integrated and peak, summary
    return {"integrated": float(integrated.group(1)), "true_peak": float(peak.group(1)),
            "size": M4B.stat().st_size, "mtime_ns": M4B.stat().st_mtime_ns}


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def plan() -> dict:
    return json.loads(PLAN.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def book():
    return load_book(TEXTS)


@pytest.fixture(scope="module")
def probed() -> dict:
    return ffprobe(M4B)


@pytest.fixture(scope="module")
def rate(plan) -> int:
    return int(plan["sample_rate"])


@pytest.fixture(scope="module")
def starts(plan) -> dict[str, float]:
    """Each part's start in the book (the plan's, which test_plan_agrees_with_the_audio checks)."""
    return {p["id"]: float(p["start"]) for p in plan["parts"]}


@pytest.fixture(scope="module")
def expected_chapters(book, starts, rate) -> list[tuple[str, float]]:
    """The chapters the timeline calls for: every narrated part in reading order, one per chapter of its
    sync map, the opening titled with the part's title, the others "Part: Section"; the opening at the
    part's start, the others at the part's start plus the priming plus the sync map's time."""
    out = []
    for part in book.narrated_parts:
        chapters = syncmap(part.id)["chapters"]
        assert chapters, f"{part.id}: the sync map has no chapter"
        for k, c in enumerate(chapters):
            title = part.title if k == 0 else f"{part.title}: {c['title']}"
            start = starts[part.id] if k == 0 else starts[part.id] + PRIMING / rate + c["begin"]
            out.append((title, start))
    return out


@pytest.fixture(scope="session")
def loudness(tmp_path_factory) -> dict[str, float]:
    """The whole M4B measured once per test session (the first xdist worker measures, the others wait)."""
    _, data = shared_template(tmp_path_factory, "m4b-loudness", lambda _proj: ebur128(M4B))
    assert data["size"] == M4B.stat().st_size and data["mtime_ns"] == M4B.stat().st_mtime_ns, \
        "the M4B changed during the session"
    return data


def assert_chapters(found: list[tuple[str, float]], want: list[tuple[str, float]], reader: str) -> None:
    assert [t for t, _ in found] == [t for t, _ in want], f"{reader}: titles differ"
    off = [(t, s, w) for (t, s), (_, w) in zip(found, want, strict=True) if abs(s - w) > 0.001 + 1e-6]
    assert not off, f"{reader}: chapters more than 1 ms from the timeline: {off[:5]}"


# ---------------------------------------------------------------------------- 1. chapters


def test_plan_chapters_follow_the_timeline(plan, expected_chapters) -> None:
    found = [(c["title"], c["start"]) for c in plan["chapters"]]
    assert len(found) == len(expected_chapters) > 11
    assert_chapters(found, expected_chapters, "build/m4b/book.json")


def test_ffprobe_chapters(probed, expected_chapters) -> None:
    found = [(c["tags"]["title"], float(c["start_time"])) for c in probed["chapters"]]
    assert_chapters(found, expected_chapters, "ffprobe")
    ends = [float(c["end_time"]) for c in probed["chapters"]]
    assert ends[:-1] == [float(c["start_time"]) for c in probed["chapters"][1:]], "chapters are not contiguous"
    assert abs(ends[-1] - float(probed["format"]["duration"])) < 0.002


def test_nero_chapters_by_mutagen(expected_chapters) -> None:
    from mutagen.mp4 import MP4

    found = [(c.title, c.start) for c in MP4(M4B).chapters]
    assert_chapters(found, expected_chapters, "mutagen (chpl)")


def test_mediainfo_lists_both_chapter_lists(expected_chapters) -> None:
    r = subprocess.run(["mediainfo", "--Output=JSON", str(M4B)], capture_output=True, text=True, check=True)
    menus = [t for t in json.loads(r.stdout)["media"]["track"] if t["@type"] == "Menu"]
    assert len(menus) == 2, "want the QuickTime chapter track and the Nero list"
    for i, menu in enumerate(menus, 1):
        found = []
        for key, value in menu["extra"].items():
            m = re.fullmatch(r"_(\d\d)_(\d\d)_(\d\d)_(\d\d\d)", key)
            if m:
                h, mi, s, ms = (int(g) for g in m.groups())
                found.append((re.sub(r"^[a-z]{2,3}:(?! )", "", value), h * 3600 + mi * 60 + s + ms / 1000))
        assert_chapters(sorted(found, key=lambda c: c[1]), expected_chapters, f"MediaInfo menu {i}")


# ---------------------------------------------------------------------------- 2. the MP3s and the audio


def test_chapters_agree_with_mp3_chap_frames_and_json_chapters(plan, starts, rate) -> None:
    from mutagen.id3 import ID3

    for part_id, start in starts.items():
        mine = [c for c in plan["chapters"] if c["part"] == part_id]
        offset = start + PRIMING / rate
        chap = sorted(ID3(SITE / "audio" / f"{part_id}.mp3").getall("CHAP"), key=lambda f: f.start_time)
        podcast = json.loads((SITE / "chapters" / f"{part_id}.json").read_text(encoding="utf-8"))["chapters"]
        assert len(chap) == len(podcast) == len(mine), part_id
        for c, f, p in zip(mine, chap, podcast, strict=True):
            assert abs(c["start"] - offset - f.start_time / 1000) <= 0.050, f"{part_id}: {c['title']} vs CHAP"
            assert abs(c["start"] - offset - p["startTime"]) <= 0.050, f"{part_id}: {c['title']} vs JSON"
            assert c["title"].endswith(p["title"]), (c["title"], p["title"])


def test_plan_agrees_with_the_aac_streams(plan, rate) -> None:
    """Each part's span is its AAC's frames (counted by ffprobe), end to end in reading order."""
    at = 0
    for p in plan["parts"]:
        r = subprocess.run(["ffprobe", "-v", "error", "-count_packets", "-select_streams", "a:0", "-show_entries",
                            "stream=nb_read_packets", "-of", "csv=p=0", str(AAC / f"{p['id']}.aac")],
                           capture_output=True, text=True, check=True)
        frames = int(r.stdout.strip())
        assert abs(p["start"] - at / rate) < 2e-6, p["id"]
        assert abs(p["duration"] - frames * 1024 / rate) < 2e-6, p["id"]
        at += frames * 1024
    assert abs(plan["duration"] - at / rate) < 2e-6


def _lag(haystack: np.ndarray, needle: np.ndarray) -> tuple[int, float]:
    """Where ``needle`` sits in ``haystack`` (samples) by cross-correlation, and the normalised correlation."""
    n = len(haystack) + len(needle)
    size = 1 << (n - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(haystack, size) * np.conj(np.fft.rfft(needle, size)), size)
    valid = corr[: len(haystack) - len(needle) + 1]
    lag = int(np.argmax(valid))
    seg = haystack[lag: lag + len(needle)]
    score = float(valid[lag] / (np.linalg.norm(seg) * np.linalg.norm(needle) + 1e-12))
    return lag, score


def test_each_part_sits_where_the_plan_says(plan, rate) -> None:
    """Found from the audio: a few seconds of the master around the part's second chapter, looked for in the
    M4B two seconds either side of where the plan puts it. The lag is the part's start plus the priming."""
    for p in plan["parts"]:
        chapters = syncmap(p["id"])["chapters"]
        at = chapters[1]["begin"] if len(chapters) > 1 else 5.0
        master = BUILD / "master" / f"{p['id']}.flac"
        m0 = max(0.0, at - 1.0)
        needle, mrate = decode(master, m0, 3.0, channels=1)
        assert mrate == rate
        expected = p["start"] + PRIMING / rate          # the master's time 0 in the book
        w0 = expected + m0 - 2.0
        hay, _ = decode(M4B, w0, 7.0, channels=1)
        lag, score = _lag(hay[:, 0].astype(np.float64), needle[:, 0].astype(np.float64))
        found = w0 + lag / rate - m0
        assert score > 0.95, f"{p['id']}: the master's audio is not in the M4B there (correlation {score:.2f})"
        assert abs(found - expected) <= 0.005, f"{p['id']}: starts at {found:.4f} s, the plan says {expected:.4f} s"


# ---------------------------------------------------------------------------- 3. duration


def test_duration_is_the_sum_of_the_parts(plan, probed) -> None:
    parts = [syncmap(p["id"])["duration"] for p in plan["parts"]]
    assert len(parts) == 11
    for p, d in zip(plan["parts"], parts, strict=True):
        assert abs(p["duration"] - d) <= 0.1, f"{p['id']}: {p['duration']} s in the book, {d} s in its sync map"
    duration = float(probed["format"]["duration"])
    assert abs(duration - sum(parts)) <= 0.1 * len(parts), f"{duration} s, the parts {sum(parts)} s"
    assert abs(duration - plan["duration"]) < 0.001


# ---------------------------------------------------------------------------- 4. joins


def _active(x: np.ndarray, threshold: float) -> np.ndarray:
    return np.flatnonzero(np.abs(x).max(axis=1) > threshold)


def test_joins_are_silent_with_no_click_and_no_extra_gap(plan, rate) -> None:
    """Around each join: the ±0.3 s is near silence (20 dB under the speech either side, and no louder than
    the masters' own pauses there), no sample jumps more than 0.02, and the silence between the last speech
    of a part and the first of the next is the masters' own tail and head pause plus the frames between
    (the AAC padding and the priming), no more."""
    threshold = 0.05          # speech peaks reach about 0.9; the quietest recordings' noise about 0.013
    for prev, nxt in zip(plan["parts"], plan["parts"][1:], strict=False):
        join = nxt["start"]
        x, _ = decode(M4B, join - 2.5, 5.0)
        mid = round(2.5 * rate)
        window = x[mid - round(0.3 * rate): mid + round(0.3 * rate)]
        active = _active(x, threshold)
        speech = x[active.min(): active.max() + 1] if len(active) else x
        speech_db = 10 * np.log10(np.mean(speech ** 2))
        join_db = 10 * np.log10(np.mean(window ** 2) + 1e-20)
        assert join_db <= speech_db - 20, f"{nxt['id']}: {join_db:.1f} dB at the join, speech {speech_db:.1f} dB"
        assert np.abs(np.diff(window, axis=0)).max() <= 0.02, f"{nxt['id']}: a click at the join"
        # the masters' pauses, measured the same way
        prev_master, next_master = (BUILD / "master" / f"{p['id']}.flac" for p in (prev, nxt))
        prev_len = float(ffprobe(prev_master)["format"]["duration"])
        tail, _ = decode(prev_master, prev_len - 2.5, 2.5)
        head, _ = decode(next_master, 0.0, 2.5)
        edge = round(0.3 * rate)
        pause_db = 10 * np.log10((np.mean(tail[-edge:] ** 2) + np.mean(head[:edge] ** 2)) / 2 + 1e-20)
        assert join_db <= pause_db + 3, f"{nxt['id']}: {join_db:.1f} dB at the join, the pauses {pause_db:.1f} dB"
        before, after = active[active < mid], active[active >= mid]
        assert len(before) and len(after), f"{nxt['id']}: no speech within 2.5 s of the join"
        gap = (after.min() - before.max()) / rate
        tail_pause = (len(tail) - 1 - _active(tail, threshold).max()) / rate
        head_pause = _active(head, threshold).min() / rate
        padding = join - (prev["start"] + PRIMING / rate + prev_len)      # the part's last frame beyond its audio
        assert 0 <= padding <= 2 * 1024 / rate + 1e-4, f"{prev['id']}: {padding:.4f} s of padding"
        want = tail_pause + padding + PRIMING / rate + head_pause
        assert abs(gap - want) <= 0.03, f"{nxt['id']}: {gap:.3f} s between the parts' speech, want {want:.3f} s"


# ---------------------------------------------------------------------------- 5. loudness


def test_loudness_and_true_peak(loudness) -> None:
    audio = TOML["audio"]
    assert abs(loudness["integrated"] - audio["loudness"]) <= 0.5, loudness
    assert loudness["true_peak"] <= audio["true_peak"], loudness


# ---------------------------------------------------------------------------- 6. tags


def _tags(path: Path) -> dict:
    from mutagen.mp4 import MP4

    tags = MP4(path).tags
    assert tags is not None
    return dict(tags)


def _freeform(tags: dict, name: str) -> list[str]:
    return [bytes(v).decode("utf-8") for v in tags.get(f"----:com.apple.iTunes:{name}", [])]


def test_tags_come_from_book_toml(probed) -> None:
    tags = _tags(M4B)
    authors = ", ".join(TOML["authors"])
    assert tags["©nam"] == [TOML["title"]]
    assert tags["©alb"] == [TOML["title"]]
    assert tags["©ART"] == [authors]
    assert tags["aART"] == [authors]
    assert tags["©wrt"] == [TOML["narrator"]]
    assert tags["©day"] == [str(TOML["published"].year)]
    assert tags["desc"] == [TOML["description"]]
    assert tags["ldes"] == [TOML["description"]]
    assert tags["©gen"] == ["Audiobook"]
    assert tags["stik"] == [2]
    assert tags["cprt"] == [TOML["rights"]]
    assert len(tags["covr"]) == 1 and bytes(tags["covr"][0]) == COVER.read_bytes()
    assert _freeform(tags, "SUBTITLE") == [TOML["subtitle"]]
    assert _freeform(tags, "PUBLISHER") == [TOML["publisher"]]
    assert _freeform(tags, "LANGUAGE") == [TOML["language"]]
    assert _freeform(tags, "ISBN") == [TOML["isbn"]]
    audio = [s for s in probed["streams"] if s["codec_type"] == "audio"]
    assert len(audio) == 1 and audio[0]["codec_name"] == "aac" and audio[0]["profile"] == "LC"
    assert audio[0]["tags"]["language"] == "eng"


def _texts_copy(dest: Path, toml_edit=None, part_edit=None) -> Path:
    """texts/ copied (with book.toml and the parts edited by the given functions of their text)."""
    shutil.copytree(TEXTS, dest)
    if toml_edit:
        p = dest / "book.toml"
        p.write_text(toml_edit(p.read_text(encoding="utf-8")), encoding="utf-8")
    if part_edit:
        for p in dest.glob("*.md"):
            p.write_text(part_edit(p.read_text(encoding="utf-8")), encoding="utf-8")
    return dest


def test_markup_and_ampersand_in_the_title_are_plain_text(tmp_path) -> None:
    title = 'Tom & Jerry <b>bold</b> "quoted" &amp;'
    texts = _texts_copy(tmp_path / "texts", toml_edit=lambda t: re.sub(
        r'(?m)^title = ".*"$', lambda _m: f"title = {json.dumps(title)}", t))
    out = tmp_path / "site" / "book.m4b"
    r = audiobook_cli(texts, AAC, out)
    assert r.returncode == 0, r.stderr
    tags = _tags(out)
    assert tags["©nam"] == [title] and tags["©alb"] == [title]


# ---------------------------------------------------------------------------- 7. reproducible


def test_audiobook_is_reproducible(tmp_path) -> None:
    outs = [tmp_path / f"run{i}" / M4B.name for i in (1, 2)]
    for out in outs:
        r = audiobook_cli(TEXTS, AAC, out, SYNC, "--plan", str(out.with_suffix(".json")))
        assert r.returncode == 0, r.stderr
    assert outs[0].read_bytes() == outs[1].read_bytes()
    assert outs[0].read_bytes() == M4B.read_bytes(), "the same inputs as make site's, other bytes"
    assert outs[0].with_suffix(".json").read_bytes() == PLAN.read_bytes()


def test_aac_is_reproducible(tmp_path, plan) -> None:
    part = min(plan["parts"], key=lambda p: p["duration"])["id"]
    master = tmp_path / "excerpt.flac"      # 20 s of the shortest master, a master itself
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(BUILD / "master" / f"{part}.flac"), "-t", "20",
                    "-c:a", "flac", "-fflags", "+bitexact", str(master)], check=True)
    outs = [tmp_path / f"{i}.aac" for i in (1, 2)]
    for out in outs:
        r = pipeline_cli("aac", str(master), "--channels", str(AAC / "channels.txt"), "-o", str(out))
        assert r.returncode == 0, r.stderr
    assert outs[0].read_bytes() == outs[1].read_bytes()
    assert len(outs[0].read_bytes()) > 20 * plan["bitrate"] * 1000 / 8 * 0.5   # about 20 s at the bit rate


# ---------------------------------------------------------------------------- 8. where it shows


def test_web_index_offers_the_m4b_with_its_real_figures(probed) -> None:
    page = (SITE / "index.html").read_text(encoding="utf-8")
    links = re.findall(r'<a href="([^"]+)"[^>]*>Download the audiobook \(M4B, ([^,]+), ([^)]+)\)</a>', page)
    assert len(links) == 1, "the index offers the audiobook once"
    href, length, size = (html.unescape(g) for g in links[0])
    assert href == M4B.name and (SITE / href).resolve() == M4B.resolve()
    assert length == format_length(float(probed["format"]["duration"]))
    assert size == format_size(M4B.stat().st_size)
    assert re.fullmatch(r"(\d+ h )?\d+ min", length) and re.fullmatch(r"\d+(\.\d)? MB", size)


def test_epub_and_feed_do_not_mention_the_m4b() -> None:
    feed = (SITE / "podcast.xml").read_text(encoding="utf-8")
    assert ".m4b" not in feed.lower()
    with zipfile.ZipFile(SITE / f"{TOML['id']}.epub") as z:
        texts = [n for n in z.namelist() if n.endswith((".xhtml", ".opf", ".ncx", ".smil", ".xml", ".css", ".html"))]
        assert texts
        for name in texts:
            assert b".m4b" not in z.read(name).lower(), name
        assert not [n for n in z.namelist() if n.lower().endswith(".m4b")]


# ---------------------------------------------------------------------------- 9. bad input


def _assert_coded_failure(r: subprocess.CompletedProcess[str], code: str, names: str, out: Path) -> None:
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if code in ln]
    assert lines and names in lines[0], r.stderr
    assert not out.exists()
    assert list(out.parent.iterdir()) == [], "a temporary file was left beside the output"


def _aac_dir(dest: Path) -> Path:
    """The built parts' AAC, linked (a test replaces the one it breaks)."""
    dest.mkdir()
    for f in AAC.glob("*.aac"):
        (dest / f.name).symlink_to(f)
    return dest


@pytest.fixture
def outdir(tmp_path) -> Path:
    """An empty folder for the output: what a failed run leaves in it is all there."""
    d = tmp_path / "out"
    d.mkdir()
    return d


def test_no_narrated_part(tmp_path, outdir) -> None:
    texts = _texts_copy(tmp_path / "texts", part_edit=lambda t: t.replace("\n---\n", "\nnarrated: false\n---\n", 1))
    out = outdir / "book.m4b"
    _assert_coded_failure(audiobook_cli(texts, AAC, out), "E-M4B-001", "book.toml", out)


@pytest.mark.parametrize("damage", ["truncated", "not-adts"])
def test_corrupt_part_aac(tmp_path, outdir, plan, damage) -> None:
    aac = _aac_dir(tmp_path / "aac")
    victim = plan["parts"][3]["id"]
    data = (AAC / f"{victim}.aac").read_bytes()
    (aac / f"{victim}.aac").unlink()
    (aac / f"{victim}.aac").write_bytes(data[:-100] if damage == "truncated" else b"\0" * 64 + data[64:])
    out = outdir / "book.m4b"
    _assert_coded_failure(audiobook_cli(TEXTS, aac, out), "E-M4B-003", f"{victim}.aac", out)


def test_part_aac_that_does_not_match_its_timeline(tmp_path, outdir, plan) -> None:
    aac = _aac_dir(tmp_path / "aac")
    longest = max(plan["parts"], key=lambda p: p["duration"])["id"]
    victim = min(plan["parts"], key=lambda p: p["duration"])["id"]
    (aac / f"{victim}.aac").unlink()
    shutil.copy(AAC / f"{longest}.aac", aac / f"{victim}.aac")
    out = outdir / "book.m4b"
    r = audiobook_cli(TEXTS, aac, out)
    _assert_coded_failure(r, "E-M4B-005", f"{victim}.aac", out)
    assert f"{victim}.json" in r.stderr


def test_failure_leaves_an_existing_m4b_untouched(tmp_path, outdir) -> None:
    out = outdir / "book.m4b"
    out.write_bytes(b"the last good one")
    aac = _aac_dir(tmp_path / "aac")
    first = next(aac.glob("*.aac"))
    first.unlink()
    first.write_bytes(b"garbage")
    r = audiobook_cli(TEXTS, aac, out)
    assert r.returncode == 1 and "E-M4B-003" in r.stderr and "Traceback" not in r.stderr
    assert out.read_bytes() == b"the last good one" and [p.name for p in outdir.iterdir()] == ["book.m4b"]


# ---------------------------------------------------------------------------- 10. a part with no sections


PART = """---
id: {id}
title: {title}
order: {order}
published: 2024-03-02
---

{body}
"""


def _sine_aac(tmp: Path, name: str, seconds: float) -> Path:
    from pipeline.stages.audiobook import encode_part

    flac = tmp / f"{name}.flac"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}",
                    "-c:a", "flac", str(flac)], check=True)
    out = tmp / "aac" / f"{name}.aac"
    encode_part(flac, out)
    return out


def _frames(aac: Path) -> int:
    r = subprocess.run(["ffprobe", "-v", "error", "-count_packets", "-select_streams", "a:0", "-show_entries",
                        "stream=nb_read_packets", "-of", "csv=p=0", str(aac)], capture_output=True, text=True, check=True)
    return int(r.stdout.strip())


@pytest.mark.parametrize("empty_chapter_list", [False, True])
def test_part_without_sections_is_one_chapter(tmp_path, empty_chapter_list) -> None:
    from pipeline.model import contracts as C
    from pipeline.stages.audiobook import plan_book

    texts = tmp_path / "texts"
    texts.mkdir()
    shutil.copy(TEXTS / "book.toml", texts / "book.toml")
    (texts / "00-solo.md").write_text(PART.format(id="solo", title="A Solo & Only Part", order=0,
                                                  body="One paragraph and no sections. Another sentence."))
    (texts / "01-duo.md").write_text(PART.format(id="duo", title="Duo", order=1,
                                                 body="Opening.\n\n## First half\n\nOne.\n\n## Second half\n\nTwo."))
    sync = tmp_path / "sync"
    lengths = {"solo": 3.0, "duo": 4.0}
    sections = {"solo": [] if empty_chapter_list else [("A Solo & Only Part", 0.0)],
                "duo": [("Duo", 0.0), ("First half", 1.2), ("Second half", 2.5)]}
    frames = {}
    for pid, seconds in lengths.items():
        frames[pid] = _frames(_sine_aac(tmp_path, pid, seconds))
        marks = sections[pid]
        chapters = tuple(C.Chapter(f"{pid}-c{k + 1:02d}", title, begin,
                                   marks[k + 1][1] if k + 1 < len(marks) else seconds)
                         for k, (title, begin) in enumerate(marks))
        C.write_syncmap(sync / f"{pid}.json", C.SyncMap(
            part=pid, audio=f"{pid}.flac", duration=seconds,
            fragments=(C.Fragment(f"{pid}-s0001", 0.0, seconds, "All of it."),), chapters=chapters))
    plan, streams = plan_book(load_book(texts), sync, tmp_path / "aac")
    assert [s.name for s in streams] == ["solo.aac", "duo.aac"]
    duo_start = frames["solo"] * 1024 / 44100
    want = [("A Solo & Only Part", 0.0, "solo"), ("Duo", duo_start, "duo"),
            ("Duo: First half", duo_start + PRIMING / 44100 + 1.2, "duo"),
            ("Duo: Second half", duo_start + PRIMING / 44100 + 2.5, "duo")]
    got = [(c.title, c.start, c.part) for c in plan.chapters]
    assert [(t, p) for t, _, p in got] == [(t, p) for t, _, p in want]
    assert np.allclose([s for _, s, _ in got], [s for _, s, _ in want], atol=1e-9)
    assert plan.chapters[0].end == pytest.approx(duo_start)
    assert plan.chapters[-1].end == pytest.approx(plan.duration) == (frames["solo"] + frames["duo"]) * 1024 / 44100


# ---------------------------------------------------------------------------- 11. the release check


@pytest.fixture
def measured(monkeypatch, loudness) -> None:
    """The check's meter answers with the session's measurement of the M4B (the broken copies below change
    tags and chapter titles, not the audio), so that the whole book is measured once."""
    import pipeline.checks.audiobook as check
    from pipeline.stages.audio import Loudness

    monkeypatch.setattr(check, "measure", lambda _path: Loudness(loudness["integrated"], loudness["true_peak"], 0.0))


def test_the_loudness_is_kept_while_the_audio_stream_is_the_same(loudness, tmp_path) -> None:
    """The check's measurement is kept keyed by the audio stream read out of the M4B: a copy whose tags
    and chapters changed (a text edit) is not measured again; one whose audio changed is."""
    from mutagen.mp4 import MP4

    import pipeline.checks.audiobook as check
    from pipeline.model.contracts import LoudnessRecord, write_loudness

    record = tmp_path / "loudness.json"
    copy = tmp_path / "book.m4b"
    shutil.copy(M4B, copy)
    write_loudness(record, LoudnessRecord(integrated=loudness["integrated"], true_peak=loudness["true_peak"],
                                          duration=0.0, payload_sha256=check.audio_payload_sha256(M4B)))
    retitled = MP4(copy)
    retitled.tags["©nam"] = ["Another title"]
    retitled.save()
    assert check.book_loudness(copy, record) == (loudness["integrated"], loudness["true_peak"], False)
    # a record of other audio is not trusted: the file is measured (here a short one, to keep it quick)
    short = tmp_path / "short.m4b"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(M4B), "-t", "20", "-c", "copy", str(short)], check=True)
    integrated, _, now = check.book_loudness(short, record)
    assert now and check.read_loudness(record).payload_sha256 == check.audio_payload_sha256(short)
    assert check.read_loudness(record).integrated == integrated


def _check(path: Path, book):
    from pipeline.checks.audiobook import check_audiobook

    return check_audiobook(path, PLAN, book, COVER, SYNC)


def test_check_passes_the_real_m4b(measured, book, plan) -> None:
    result = _check(M4B, book)
    assert result.passed and result.ran, [str(f) for f in result.findings]
    assert f"{len(plan['chapters'])} chapters" in result.summary


def test_check_finds_a_missing_tag(measured, book, tmp_path) -> None:
    from mutagen.mp4 import MP4

    broken = tmp_path / M4B.name
    shutil.copy(M4B, broken)
    m = MP4(broken)
    assert m.tags is not None
    del m.tags["©wrt"]
    m.save()
    result = _check(broken, book)
    assert not result.passed
    assert [(f.code, "©wrt" in f.message) for f in result.findings] == [("C-M4B-004", True)]


def _chpl_span(path: Path) -> tuple[int, int]:
    from mutagen.mp4 import Atoms

    with open(path, "rb") as f:
        atom = Atoms(f).path(b"moov", b"udta", b"chpl")[-1]
    return atom.offset, atom.offset + atom.length


@pytest.mark.parametrize("where", ["chpl", "chapter-track"])
def test_check_finds_a_changed_chapter_title(measured, book, tmp_path, plan, where) -> None:
    """One chapter title changed in one of the two lists (same length, so nothing else moves): the readers
    of that list disagree with the timeline, the others do not."""
    title = plan["chapters"][9]["title"].encode("utf-8")
    changed = title[:-1] + (b"X" if title[-1:] != b"X" else b"Y")
    data = bytearray(M4B.read_bytes())
    lo, hi = _chpl_span(M4B)
    spots = [m.start() for m in re.finditer(re.escape(title), data)]
    inside = [s for s in spots if lo <= s < hi]
    outside = [s for s in spots if not lo <= s < hi]
    assert len(inside) == 1 and len(outside) == 1, (spots, lo, hi)
    at = (inside if where == "chpl" else outside)[0]
    data[at: at + len(title)] = changed
    broken = tmp_path / M4B.name
    broken.write_bytes(bytes(data))
    result = _check(broken, book)
    codes = {f.code for f in result.findings}
    assert not result.passed
    if where == "chpl":
        assert codes == {"C-M4B-005", "C-M4B-006"}, [str(f) for f in result.findings]
    else:
        assert codes == {"C-M4B-001", "C-M4B-006"}, [str(f) for f in result.findings]
    assert all(changed.decode() in f.message for f in result.findings)
