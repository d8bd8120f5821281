"""`make release` end to end, on a small book in a scratch copy of the project: gated, atomic,
incremental and reproducible. The copy shares the package, the virtual environment and node_modules
(symlinks), and has its own texts/, recordings/, build/ and output/.

The release is built once per test session (the template, shared by the xdist workers through a lock:
tests/scratch.py) and every test works on its own copy of it (times kept, so `make` sees it as up to
date): no test sees another's changes, whatever order they run in."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from narration import flite_available
from scratch import copy_project, make, scratch_project, shared_template

pytestmark = pytest.mark.skipif(not (shutil.which("ffmpeg") and flite_available() and Path("/usr/bin/chromium").exists()),
                                reason="needs ffmpeg, flite and Chromium (installed by .ci/run)")

PARTS = {
    "01-alpha.md": """---
id: alpha
title: Alpha & Omega
subtitle: A first story
order: 1
published: 2024-03-02
---

Alpha began in 2007 with a small team. It helped 8% of people, against 49% elsewhere.

## The middle

People met every week. They built trust slowly.

> Trust takes time.

## Questions for reflection

### Digging deeper

- What stands out?

### Applying the learning

- What would you try?
""",
    "02-beta.md": """---
id: beta
title: Beta
subtitle: A second story
order: 2
published: 2024-03-03
---

Beta is a community group in Leeds. Volunteers run it on Saturdays.

## How it works

Anyone can join. Nobody signs up.

## Questions for reflection

### Digging deeper

- Why does it work?

### Applying the learning

- Where could you start?
""",
}


def _narration(i: int) -> dict[str, Any]:
    return {"voice": "slt", "pause_range": (0.4, 1.0), "head": 1.0, "tail": 1.0, "noise_db": -60, "gain_db": -10 - 8 * i}


def tree_hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def release_template(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The small book released once (read only: tests work on copies), and the hashes of its output/."""
    def build(proj: Path) -> dict[str, str]:
        scratch_project(proj, PARTS, ("alpha", "beta"), _narration)
        r = make(proj, "release")
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        return tree_hashes(proj / "output")

    return shared_template(tmp_path_factory, "release-template", build)


@pytest.fixture()
def released(release_template, tmp_path) -> tuple[Path, dict[str, str]]:
    """This test's own copy of the released project (file times kept; the shared links stay links)."""
    template, hashes = release_template
    return copy_project(template, tmp_path / "proj"), hashes


def test_release_publishes_every_edition(released) -> None:
    proj, hashes = released
    expected = {"podcast.xml", "putting-relationships-first.epub", "index.html", "cover.png",
                "audio/alpha.mp3", "audio/beta.mp3", "stories/alpha.html", "stories/beta.html",
                "transcripts/alpha.vtt", "chapters/beta.json"}
    assert expected <= set(hashes)
    report = (proj / "build" / "report" / "index.html").read_text(encoding="utf-8")
    assert "Alpha &amp; Omega" in report and "timelines/alpha.png" in report


def test_second_release_does_nothing(released) -> None:
    proj, hashes = released
    t = time.perf_counter()
    r = make(proj, "release")
    elapsed = time.perf_counter() - t
    assert r.returncode == 0
    assert "pipeline" not in r.stdout, r.stdout
    assert elapsed < 5
    assert tree_hashes(proj / "output") == hashes


def rebuild_touching_only_beta(proj: Path) -> list[str]:
    """`make site` after a change to beta: beta is re-aligned, alpha is not re-mastered, re-aligned or
    re-tagged, and the shared files (EPUB, feed, pages) are rebuilt; then the release publishes it.
    Returns the pipeline commands `make site` ran."""
    r = make(proj, "site")
    assert r.returncode == 0, r.stderr[-2000:]
    commands = [ln for ln in r.stdout.splitlines() if "-m pipeline" in ln]
    assert any("align build/master/beta.flac" in c for c in commands)
    assert not any("alpha" in c and ("align" in c or " tag " in c or " master " in c) for c in commands), commands
    assert any(" epub " in c for c in commands) and any(" feed " in c for c in commands)
    assert any(" web " in c for c in commands)
    r = make(proj, "release")
    assert r.returncode == 0, r.stderr[-2000:]
    return commands


def test_editing_one_text_rebuilds_only_that_part(released) -> None:
    proj, _ = released
    beta = proj / "texts" / "02-beta.md"
    beta.write_text(beta.read_text(encoding="utf-8").replace("Anyone can join.", "Anyone at all can join."),
                    encoding="utf-8")
    commands = rebuild_touching_only_beta(proj)
    assert not any(" master " in c for c in commands), commands       # no re-encode for a text edit


def test_replacing_one_recording_rebuilds_only_that_part(released) -> None:
    proj, _ = released
    rec = proj / "recordings" / "beta.ogg"
    louder = proj / "beta-louder.ogg"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(rec), "-af", "volume=4dB", str(louder)], check=True)
    louder.replace(rec)
    commands = rebuild_touching_only_beta(proj)
    assert any(" master recordings/beta.ogg" in c for c in commands), commands


def test_corrupt_recording_fails_and_leaves_output_untouched(released) -> None:
    proj, _ = released
    before = tree_hashes(proj / "output")
    rec = proj / "recordings" / "alpha.mp3"
    data = rec.read_bytes()
    rec.write_bytes(data[: len(data) // 4])
    r = make(proj, "release")
    assert r.returncode != 0
    assert "recordings/alpha.mp3" in r.stderr
    assert tree_hashes(proj / "output") == before


def test_clean_release_is_byte_identical(released) -> None:
    """`make clean` then `make release`, in another folder than the template's: every output file again,
    byte for byte."""
    proj, hashes = released
    r = make(proj, "clean")
    assert r.returncode == 0, r.stderr[-2000:]
    assert not (proj / "output").exists() and not (proj / "build").exists()
    r = make(proj, "release")
    assert r.returncode == 0, r.stderr[-2000:]
    again = tree_hashes(proj / "output")
    assert len(again) >= 10 and again == hashes, \
        sorted(k for k in set(hashes) | set(again) if hashes.get(k) != again.get(k))
