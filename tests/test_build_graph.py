"""The Make graph never lies: in a scratch copy of a tiny project (two narrated parts), each kind of change
reruns exactly the stages that read what changed, a deleted file is seen (its coded error, or the part
gone from every edition and from output/), and nothing runs when nothing changed. What ran is read from
the stage commands make echoes, not from timings.

The project's site is built once per test session (the template; tests/scratch.py) and every test works
on its own copy of it (file times kept, so make sees it as up to date), and makes there the state it
starts from: the tests pass alone, in any order, and spread over xdist workers."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from narration import flite_available
from scratch import copy_project, make, scratch_project, shared_template

pytestmark = pytest.mark.skipif(not (shutil.which("ffmpeg") and flite_available() and Path("/usr/bin/chromium").exists()),
                                reason="needs ffmpeg, flite and Chromium")

PARTS = {
    "01-alpha.md": """---
id: alpha
title: Alpha
subtitle: A first story
order: 1
published: 2024-03-02
---

Alpha began with a small team. People met every week.

## Questions for reflection

- What stands out?
""",
    "02-beta.md": """---
id: beta
title: Beta
subtitle: A second story
order: 2
published: 2024-03-03
---

Beta is a community group in Leeds. Volunteers run it on Saturdays.

## Questions for reflection

- Why does it work?
""",
}
STAGE = re.compile(r"-m pipeline ([a-z-]+)(.*)")


def _narration(i: int) -> dict[str, Any]:
    return {"voice": "slt", "pause_range": (0.4, 0.8), "head": 0.6, "tail": 0.6, "noise_db": -60, "gain_db": -12}


def ran(r: subprocess.CompletedProcess) -> list[str]:
    """The stage commands make ran, as 'STAGE first-argument' (e.g. 'align build/master/beta.flac')."""
    out = []
    for line in r.stdout.splitlines():
        m = STAGE.search(line)
        if m:
            args = m.group(2).split()
            out.append(f"{m.group(1)} {args[0] if args else ''}".strip())
    return out


def site(proj: Path) -> list[str]:
    """`make site` and the per-part work the checks read (proof, timelines): all but the checks."""
    r = make(proj, "site", "proof", *(f"build/report/timelines/{p}.png" for p in ("alpha", "beta")))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert ran(r).count("parts-mk texts") <= 1, r.stdout    # the list of parts is made once, at most
    return ran(r)


def later(path: Path) -> None:
    """Make sure an edited file's time is after every output's (times in the future would make make
    rebuild the list of parts until they are past)."""
    newest = max(p.stat().st_mtime for p in (path.parents[1] / "build").rglob("*") if p.is_file())
    while path.stat().st_mtime <= newest:
        time.sleep(0.05)
        os.utime(path)


def beta_as_flac(proj: Path) -> None:
    """Replace beta's Ogg recording by a FLAC of it whose time is an hour older than the Ogg's was."""
    rec = proj / "recordings" / "beta.ogg"
    flac = proj / "recordings" / "beta.flac"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(rec), str(flac)], check=True)
    st = rec.stat()
    rec.unlink()
    os.utime(flac, (st.st_atime - 3600, st.st_mtime - 3600))


@pytest.fixture(scope="session")
def graph_template(tmp_path_factory) -> Path:
    """The tiny project with its site built (alpha's recording an MP3, beta's an Ogg). Read only."""
    def build(proj: Path) -> None:
        scratch_project(proj, PARTS, ("alpha", "beta"), _narration)
        site(proj)

    return shared_template(tmp_path_factory, "graph-template", build)[0]


@pytest.fixture(scope="session")
def graph_template_flac(graph_template, tmp_path_factory) -> Path:
    """The same with beta's recording replaced by a FLAC (`beta_as_flac`), the site built again. Read only."""
    def build(proj: Path) -> None:
        copy_project(graph_template, proj)
        beta_as_flac(proj)
        site(proj)

    return shared_template(tmp_path_factory, "graph-template-flac", build)[0]


@pytest.fixture()
def proj(graph_template, tmp_path) -> Path:
    """This test's own copy of the built project."""
    return copy_project(graph_template, tmp_path / "proj")


@pytest.fixture()
def proj_flac(graph_template_flac, tmp_path) -> Path:
    """This test's own copy of the built project whose beta recording is a FLAC."""
    return copy_project(graph_template_flac, tmp_path / "proj")


def test_nothing_changed_nothing_runs(proj) -> None:
    assert site(proj) == []


def test_subtitle_edit_retags_but_never_re_encodes(proj) -> None:
    toml = proj / "texts" / "book.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace(
        'subtitle = "The case for', 'subtitle = "The whole case for'), encoding="utf-8")
    later(toml)
    stages = site(proj)
    assert not [s for s in stages if s.split()[0] in ("master", "align", "cut", "proof", "transcript", "chapters")], stages
    # the subtitle is on the cover, in the tags and in every edition
    assert {"parts-mk", "cover", "feed", "web", "epub"} <= {s.split()[0] for s in stages}, stages
    assert sorted(s for s in stages if s.startswith("tag ")) == ["tag build/encoded/alpha.mp3", "tag build/encoded/beta.mp3"]
    # the audiobook's tags and cover change: it is joined again, never re-encoded
    assert "audiobook texts" in stages and not [s for s in stages if s.startswith("aac")], stages
    assert site(proj) == []


def test_sentence_edit_reruns_that_part_and_the_shared_editions(proj) -> None:
    beta = proj / "texts" / "02-beta.md"
    beta.write_text(beta.read_text(encoding="utf-8").replace("Volunteers run it", "Volunteers run the group"),
                    encoding="utf-8")
    later(beta)
    stages = site(proj)
    assert "align build/master/beta.flac" in stages and "tag build/encoded/beta.mp3" in stages, stages
    assert {"proof build/sync/beta.json", "transcript build/sync/beta.json", "chapters build/sync/beta.json",
            "timeline build/waveform/beta.npy"} <= set(stages), stages
    assert not [s for s in stages if "alpha" in s], stages                  # the other part is untouched
    assert not [s for s in stages if s.split()[0] in ("master", "cover", "cut")], stages   # nothing re-encoded
    assert {"feed", "web", "epub"} <= {s.split()[0] for s in stages}, stages
    # the audiobook's chapters come from the new timeline: joined again from the parts' AAC, not re-encoded
    assert "audiobook texts" in stages and not [s for s in stages if s.startswith(("aac ", "aac-layout"))], stages


def test_replaced_recording_remasters_that_part_alone(proj) -> None:
    rec = proj / "recordings" / "beta.ogg"
    louder = proj / "beta-louder.ogg"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(rec), "-af", "volume=3dB", str(louder)], check=True)
    louder.replace(rec)
    later(rec)
    stages = site(proj)
    assert [s for s in stages if s.startswith(("master", "align"))] == \
        ["master recordings/beta.ogg", "align build/master/beta.flac"], stages
    assert not [s for s in stages if "alpha" in s], stages
    # the audiobook re-encodes that part's AAC alone, then joins the book again
    assert [s for s in stages if s.startswith("aac ")] == ["aac build/master/beta.flac"], stages
    assert "audiobook texts" in stages, stages


def test_recording_in_another_format_is_seen_even_when_older(proj) -> None:
    """A recording replaced by one of another format with an old time makes nothing newer; the part's
    recording stamp changes."""
    beta_as_flac(proj)
    stages = site(proj)
    assert "master recordings/beta.flac" in stages and "alpha" not in " ".join(stages), stages
    assert stages.count("parts-mk texts") == 1, stages


def test_audio_setting_edit_remasters_every_part(proj_flac) -> None:
    toml = proj_flac / "texts" / "book.toml"
    text = toml.read_text(encoding="utf-8")
    assert "silence_pad = 0.5" in text
    toml.write_text(text.replace("silence_pad = 0.5", "silence_pad = 0.4"), encoding="utf-8")
    later(toml)
    stages = site(proj_flac)
    assert {s for s in stages if s.startswith("master")} == {"master recordings/alpha.mp3", "master recordings/beta.flac"}
    assert {s for s in stages if s.startswith("align")} == {"align build/master/alpha.flac", "align build/master/beta.flac"}
    assert {s for s in stages if s.startswith("aac ")} == {"aac build/master/alpha.flac", "aac build/master/beta.flac"}
    assert json.loads((proj_flac / "build" / "audio.json").read_text())["silence_pad"] == 0.4


def test_code_dependencies_are_derived(proj) -> None:
    """Each rule's code list comes from the modules its stage imports (build/code.mk): the checks' list
    holds the audio and ffmpeg modules they call, the web edition's its templates and static files."""
    code = {}
    for line in (proj / "build" / "code.mk").read_text(encoding="utf-8").splitlines():
        if line.startswith("CODE_"):
            name, _, files = line.partition(" := ")
            code[name.removeprefix("CODE_")] = set(files.split())
    assert {"pipeline/stages/audio.py", "pipeline/system/ffmpeg.py", "pipeline/checks/gate.py",
            "pipeline/stages/feed.py"} <= code["check"]
    assert {"pipeline/static/readalong.js", "pipeline/templates/web-story.html"} <= code["web"]
    assert "pipeline/stages/align.py" not in code["master"] and "pipeline/stages/epub.py" not in code["align"]
    assert "pipeline/extras/importer.py" not in code["master"]
    # the code is seen through the scratch copy's symbolic link, and a change of a stage's code (here:
    # the list of parts' code is newer than the list) reruns it
    assert "pipeline/cli.py" in (proj / "build" / "code-files.txt").read_text(encoding="utf-8").split()
    # the rules read the lists (build/code.mk is read before the first rule that uses one)
    db = subprocess.run(["make", "-pnq", "build/parts.mk", "build/cover.png"], cwd=proj, capture_output=True,
                        text=True, env=dict(os.environ, MAKEFLAGS="")).stdout
    for target, stage in (("build/parts.mk", "parts-mk"), ("build/cover.png", "cover")):
        rule = next(ln for ln in db.splitlines() if ln.startswith(f"{target}:"))
        assert code[stage] <= set(rule.split()[1:]), (target, rule)
    # every stage the Makefile runs has its list
    stages = set(re.findall(r"\$\(PIPELINE\) ([a-z-]+)", (proj / "Makefile").read_text(encoding="utf-8")))
    assert stages <= set(code), stages - set(code)


def _hide(path: Path) -> Path:
    """Move a file out of the project (keeping its times), to put it back later."""
    kept = path.parent.parent / f".kept-{path.name}"
    path.rename(kept)
    return kept


def test_deleted_recording_is_its_coded_error(proj_flac) -> None:
    kept = _hide(proj_flac / "recordings" / "beta.flac")
    try:
        r = make(proj_flac, "release")
        assert r.returncode != 0
        assert "E-REC-001" in r.stderr and "beta" in r.stderr, r.stderr[-2000:]
        assert not (proj_flac / "output").exists() or "up to date" not in r.stdout
    finally:
        kept.rename(proj_flac / "recordings" / "beta.flac")
    # put back as it was: nothing to redo but the list of parts
    assert [s for s in site(proj_flac) if s != "parts-mk texts"] == []


def test_deleted_text_with_its_recording_there_is_its_coded_error(proj_flac) -> None:
    kept = _hide(proj_flac / "texts" / "02-beta.md")
    try:
        r = make(proj_flac, "release")
        assert r.returncode != 0
        assert "E-REC-002" in r.stderr and "beta.flac" in r.stderr, r.stderr[-2000:]
    finally:
        kept.rename(proj_flac / "texts" / "02-beta.md")
    assert [s for s in site(proj_flac) if s != "parts-mk texts"] == []


def test_deleting_text_and_recording_removes_the_part_from_the_release(proj_flac) -> None:
    r = make(proj_flac, "release")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = proj_flac / "output"
    assert (out / "audio" / "beta.mp3").exists() and (out / "stories" / "beta.html").exists()
    before = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    guid = next(item.findtext("guid") for item in ET.parse(out / "podcast.xml").iter("item")
                if "beta.mp3" in item.find("enclosure").get("url"))
    (proj_flac / "texts" / "02-beta.md").unlink()
    (proj_flac / "recordings" / "beta.flac").unlink()
    # an episode listeners have may not vanish from the feed unless its GUID is retired: the release
    # stops, with the code, and output/ stays as it was
    r = make(proj_flac, "release")
    assert r.returncode != 0 and "E-FEED-004" in r.stderr and guid in r.stderr, r.stderr[-2000:]
    assert {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    toml = proj_flac / "texts" / "book.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("retired_guids = []", f'retired_guids = ["{guid}"]'),
                    encoding="utf-8")
    later(toml)
    r = make(proj_flac, "release")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    stages = ran(r)
    assert {"parts-mk", "feed", "web", "epub", "check", "publish"} <= {s.split()[0] for s in stages}, stages
    assert not [s for s in stages if s.split()[0] in ("master", "align")], stages
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert not [f for f in files if "beta" in f], files
    assert {"audio/alpha.mp3", "stories/alpha.html", "transcripts/alpha.vtt", "chapters/alpha.json"} <= files
    feed = (out / "podcast.xml").read_text(encoding="utf-8")
    assert "alpha.mp3" in feed and "beta" not in feed.lower()
    with zipfile.ZipFile(next(out.glob("*.epub"))) as z:
        assert not [n for n in z.namelist() if "beta" in n]
        assert not [n for n in z.namelist() if n.endswith((".xhtml", ".opf", ".smil"))
                    and "beta" in z.read(n).decode("utf-8").lower()]
    assert "beta" not in (out / "index.html").read_text(encoding="utf-8").lower()
    # the audiobook is alpha's alone
    plan = json.loads((proj_flac / "build" / "m4b" / "book.json").read_text(encoding="utf-8"))
    assert [p["id"] for p in plan["parts"]] == ["alpha"] and {c["part"] for c in plan["chapters"]} == {"alpha"}
    assert len(list(out.glob("*.m4b"))) == 1
    # and then nothing to do
    r = make(proj_flac, "release")
    assert r.returncode == 0 and ran(r) == [], r.stdout


# ---------------------------------------------------------------------------- change detection by content

OLD = time.mktime((2020, 1, 1, 12, 0, 0, 0, 0, -1))     # a date older than any output


def dated(path: Path, when: float = OLD) -> Path:
    """Give ``path`` an old modification time (as a download folder, an archive or a copy with -p does)."""
    os.utime(path, (when, when), follow_symlinks=True)
    return path


def louder(rec: Path, out: Path, db: float = 3.0) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(rec), "-af", f"volume={db}dB", str(out)], check=True)
    return out


def test_touching_an_input_changes_nothing(proj) -> None:
    """The stamps follow the content: a file rewritten with the same bytes, or only given a new time,
    reruns nothing."""
    for path in (proj / "texts" / "02-beta.md", proj / "texts" / "book.toml", proj / "recordings" / "beta.ogg"):
        later(path)
    beta = proj / "texts" / "01-alpha.md"
    beta.write_bytes(beta.read_bytes())
    assert site(proj) == []


def test_recording_replaced_by_an_older_file_remasters_that_part_alone(proj) -> None:
    rec = proj / "recordings" / "beta.ogg"
    dated(louder(rec, proj / "beta-louder.ogg")).replace(rec)
    assert rec.stat().st_mtime == OLD
    stages = site(proj)
    assert [s for s in stages if s.startswith(("master", "align"))] == \
        ["master recordings/beta.ogg", "align build/master/beta.flac"], stages
    assert not [s for s in stages if "alpha" in s], stages
    assert [s for s in stages if s.startswith("aac ")] == ["aac build/master/beta.flac"], stages
    assert "audiobook texts" in stages and "parts-mk texts" not in stages, stages
    assert site(proj) == []


def test_text_extracted_from_an_archive_with_its_dates_is_seen(proj, tmp_path) -> None:
    """An edited part packed with an old date and extracted over the project's file keeps that date
    (`tar -x` restores it): its content is what the build sees."""
    packed = tmp_path / "packed"
    (packed / "texts").mkdir(parents=True)
    edited = packed / "texts" / "02-beta.md"
    edited.write_text((proj / "texts" / "02-beta.md").read_text(encoding="utf-8").replace(
        "Volunteers run it", "Volunteers run the group"), encoding="utf-8")
    dated(edited)
    subprocess.run(["tar", "-cf", str(tmp_path / "edit.tar"), "-C", str(packed), "texts/02-beta.md"], check=True)
    subprocess.run(["tar", "-xf", str(tmp_path / "edit.tar"), "-C", str(proj)], check=True)
    text = proj / "texts" / "02-beta.md"
    assert text.stat().st_mtime == OLD and "run the group" in text.read_text(encoding="utf-8")
    stages = site(proj)
    assert "align build/master/beta.flac" in stages and "tag build/encoded/beta.mp3" in stages, stages
    assert {"parts-mk", "feed", "web", "epub", "audiobook"} <= {s.split()[0] for s in stages}, stages
    assert not [s for s in stages if "alpha" in s or s.split()[0] in ("master", "cut", "aac")], stages
    sync = json.loads((proj / "build" / "sync" / "beta.json").read_text(encoding="utf-8"))
    assert "Volunteers run the group on Saturdays." in json.dumps(sync)
    assert site(proj) == []


def test_new_part_arriving_with_an_old_date_is_built_and_published(proj) -> None:
    from narration import make_narration, write_wav

    from pipeline.model.sources import load_part

    gamma = proj / "texts" / "03-gamma.md"
    gamma.write_text(PARTS["02-beta.md"].replace("id: beta", "id: gamma").replace("title: Beta", "title: Gamma")
                     .replace("order: 2", "order: 3").replace("Beta is", "Gamma is"), encoding="utf-8")
    n = make_narration([s.text for s in load_part(gamma).sentences()], seed=3, **_narration(2))
    wav = write_wav(proj / "recordings" / "gamma.wav", n.audio)
    dated(gamma), dated(wav)
    r = make(proj, "release")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    stages = ran(r)
    assert {"master recordings/gamma.wav", "align build/master/gamma.flac", "aac build/master/gamma.flac",
            "tag build/encoded/gamma.mp3"} <= set(stages), stages
    assert not [s for s in stages if s.startswith(("master recordings/alpha", "master recordings/beta"))], stages
    out = proj / "output"
    assert (out / "audio" / "gamma.mp3").exists() and (out / "stories" / "gamma.html").exists()
    assert "gamma.mp3" in (out / "podcast.xml").read_text(encoding="utf-8")
    plan = json.loads((proj / "build" / "m4b" / "book.json").read_text(encoding="utf-8"))
    assert [p["id"] for p in plan["parts"]] == ["alpha", "beta", "gamma"]
    r = make(proj, "release")
    assert r.returncode == 0 and ran(r) == [], r.stdout


def test_symbolic_links_inside_the_project_are_followed(proj) -> None:
    """A recording and a text kept elsewhere in the project and linked in: the same bytes change nothing;
    a change made through the link (with an old date) is seen."""
    store = proj / "incoming"
    store.mkdir()
    rec, text = proj / "recordings" / "beta.ogg", proj / "texts" / "02-beta.md"
    for path in (rec, text):
        path.rename(store / path.name)
        path.symlink_to(Path("..") / "incoming" / path.name)
    assert site(proj) == []                            # the same content: nothing to do
    dated(louder(store / "beta.ogg", proj / "beta-louder.ogg")).replace(store / "beta.ogg")
    (store / "02-beta.md").write_text((store / "02-beta.md").read_text(encoding="utf-8").replace(
        "Volunteers run it", "Volunteers run the group"), encoding="utf-8")
    dated(store / "02-beta.md")
    stages = site(proj)
    assert [s for s in stages if s.startswith(("master", "align", "aac "))] == \
        ["master recordings/beta.ogg", "align build/master/beta.flac", "aac build/master/beta.flac"], stages
    assert not [s for s in stages if "alpha" in s], stages
    assert site(proj) == []


def test_symbolic_link_out_of_the_project_is_its_coded_error(proj, tmp_path) -> None:
    outside = tmp_path / "downloads"
    outside.mkdir()
    rec = proj / "recordings" / "beta.ogg"
    dated(louder(rec, outside / "beta.ogg"))
    rec.unlink()
    rec.symlink_to(outside / "beta.ogg")
    before = {p: p.read_bytes() for p in (proj / "build" / "site").rglob("*") if p.is_file()}
    parts_mk = (proj / "build" / "parts.mk").read_bytes()
    r = make(proj, "release")
    assert r.returncode != 0
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert errors == [f"error: E-REC-004 recordings/beta.ogg symbolic link to {outside / 'beta.ogg'}, outside the "
                      f"project {proj.resolve()} (copy the file into the project instead)"], r.stderr
    assert "Traceback" not in r.stderr and ran(r) == [], (r.stdout, r.stderr)
    # found before anything is built: the list of parts, the staged site and output/ as they were, and
    # the list of parts (check-sources) says the same
    r = subprocess.run([str(proj / ".venv" / "bin" / "python"), "-m", "pipeline", "check-sources", "texts",
                        "--recordings", "recordings"], cwd=proj, capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.splitlines() == errors, r.stderr
    assert (proj / "build" / "parts.mk").read_bytes() == parts_mk and not (proj / "output").exists()
    assert {p: p.read_bytes() for p in (proj / "build" / "site").rglob("*") if p.is_file()} == before
