"""scripts/make_demo_recordings.py: a tiny book in tmp_path -> one narration in the part's format + exact truth."""
from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.model.sources import load_book

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "make_demo_recordings.py"
CODECS = {"mp3": "mp3", "ogg": "vorbis", "opus": "opus", "m4a": "aac"}

needs_tools = pytest.mark.skipif(not (shutil.which("flite") and shutil.which("ffmpeg")),
                                reason="needs flite and ffmpeg")

# Front matter per docs/text-format.md; "maia" is in the script's STYLES table (stereo AAC), "other" is not.
MAIA = """\
---
id: maia
title: A Small Demo
subtitle: Two sections, read aloud
order: 1
published: 2024-03-02
---

The first paragraph has two sentences. It is short.

## A second section

Another paragraph, with “curly quotes” and 8% of 2,000 people.

- A list item.
- Another list item?
"""

OTHER = """\
---
id: other
title: Not Generated
order: 2
published: 2024-03-03
---

This part is left alone.
"""


def _script():
    """The script as a module (its STYLES table, style_for, flite_text, loudness)."""
    name = "make_demo_recordings"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SCRIPT)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod         # dataclasses look their module up while the class is made
        spec.loader.exec_module(mod)
    return sys.modules[name]


@pytest.fixture()
def tiny_texts(tmp_path: Path) -> Path:
    texts = tmp_path / "texts"
    texts.mkdir()
    shutil.copy(ROOT / "texts" / "book.toml", texts / "book.toml")
    (texts / "01-maia.md").write_text(MAIA, encoding="utf-8")
    (texts / "02-other.md").write_text(OTHER, encoding="utf-8")
    return texts


def _probe(path: Path) -> dict:
    if shutil.which("ffprobe"):
        r = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format",
                            str(path)], capture_output=True, text=True, check=True)
        info = json.loads(r.stdout)
        s = info["streams"][0]
        return {"codec": s["codec_name"], "rate": int(s["sample_rate"]), "channels": int(s["channels"]),
                "duration": float(info["format"]["duration"])}
    import re  # ffmpeg only: parse the stream line of `ffmpeg -i`
    err = subprocess.run(["ffmpeg", "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    m = re.search(r"Audio: (\w+).*?, (\d+) Hz, (mono|stereo)", err)
    d = re.search(r"Duration: (\d+):(\d+):([\d.]+)", err)
    return {"codec": m.group(1), "rate": int(m.group(2)), "channels": 1 if m.group(3) == "mono" else 2,
            "duration": int(d.group(1)) * 3600 + int(d.group(2)) * 60 + float(d.group(3))}


@needs_tools
def test_generates_one_part_with_its_truth(tiny_texts: Path, tmp_path: Path) -> None:
    mod = _script()
    style = mod.style_for("maia")
    out, truth_dir = tmp_path / "recordings", tmp_path / "truth"
    r = subprocess.run([sys.executable, str(SCRIPT), "--only", "maia", "--texts", str(tiny_texts),
                        "--out", str(out), "--truth", str(truth_dir)],
                       capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].split()[0] == "maia"
    assert "Traceback" not in r.stderr

    ext = mod.FORMATS[style.fmt][0]
    rec = out / f"maia{ext}"
    assert sorted(p.name for p in out.iterdir()) == [rec.name]          # no temp files, nothing for "other"
    assert sorted(p.name for p in truth_dir.iterdir()) == ["maia.json"]
    info = _probe(rec)
    assert info["codec"] == CODECS[style.fmt]
    assert info["rate"] == style.rate
    assert info["channels"] == style.channels
    assert abs(mod.loudness(rec) - style.lufs) <= 0.5

    truth = json.loads((truth_dir / "maia.json").read_text(encoding="utf-8"))
    assert truth["part"] == "maia"
    assert truth["recording"] == f"recordings/{rec.name}"
    part = load_book(tiny_texts).part("maia")
    ids = [s.id for s in part.sentences()]
    assert len(ids) == 8        # title, subtitle, 2 + heading + 1 + 2 list items
    frags = truth["fragments"]
    assert [f["id"] for f in frags] == ids
    assert frags[0]["begin"] >= style.head - 0.01
    for f in frags:
        assert 0 < f["begin"] < f["end"]
    for a, b in zip(frags, frags[1:]):
        assert a["end"] + 0.2 <= b["begin"]                              # pauses of at least 0.25 s
    assert frags[-1]["end"] <= info["duration"] - style.tail + 0.05


@needs_tools
def test_missing_part_is_a_usage_error(tiny_texts: Path, tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, str(SCRIPT), "--only", "nope", "--texts", str(tiny_texts),
                        "--out", str(tmp_path / "rec"), "--truth", str(tmp_path / "truth")],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2
    assert "nope" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "rec").exists()


def test_flite_text_keeps_the_words() -> None:
    mod = _script()
    assert mod.flite_text("“It’s 8%,” she said — in 2010–2015…") == '"It\'s 8%," she said -- in 2010-2015...'
    assert mod.flite_text("Café £1.2m") == "Cafe £1.2m"
