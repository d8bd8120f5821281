"""The release checks of `pipeline check` that belong to no single stage, on small generated sites: axe
in both colour schemes (one page, the scheme switched by media emulation, must still see what only the
dark scheme gets wrong), links, and the quiet preview server."""
from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from pipeline.checks.links import check_links
from pipeline.checks.web import check_web, read_web_result, serve
from pipeline.model.contracts import CheckResult, Finding, read_check_result
from pipeline.system import locate

ROOT = Path(__file__).resolve().parents[1]
PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="{css}"></head>
<body><main><h1>{title}</h1><p>Plain words for a plain page.</p>{extra}</main></body></html>
"""
# readable in the light scheme; grey on grey (about 1.6:1) in the dark one
CSS = """body { color: #111; background: #fff; }
@media (prefers-color-scheme: dark) { body { color: #777; background: #555; } }
"""


def needs_browser() -> None:
    """What check_web itself needs: a Chromium (driven over CDP, pipeline/system/cdp.py) and axe-core, as
    the locator finds them."""
    try:
        locate.chromium()
        locate.node_file(locate.AXE_JS)
    except locate.ToolMissing as e:
        pytest.skip(str(e))


def write_site(root: Path) -> Path:
    site = root / "site"
    (site / "stories").mkdir(parents=True)
    (site / "style.css").write_text(CSS, encoding="utf-8")
    (site / "index.html").write_text(PAGE.format(title="Index", css="style.css",
                                                 extra='<p><a href="stories/one.html">One</a></p>'), encoding="utf-8")
    # a player whose file the check never fetches, and an image without a text alternative
    (site / "stories" / "one.html").write_text(PAGE.format(
        title="One", css="../style.css",
        extra='<audio controls preload="metadata" src="../audio/one.mp3"></audio><img src="../a.png">'),
        encoding="utf-8")
    return site


def test_axe_sees_light_and_dark_problems(tmp_path: Path) -> None:
    needs_browser()
    site = write_site(tmp_path)
    r = check_web(site)
    assert not r.passed and r.ran and r.name == "axe"
    assert {f.code for f in r.findings} == {"C-AXE-001"}, r.problems
    dark_contrast = [f for f in r.findings if f.message.startswith("color-contrast ")]
    assert {f.where for f in dark_contrast} == {"index.html (dark)", "stories/one.html (dark)"}, r.problems
    # a fault in the markup is found in both schemes
    for scheme in ("light", "dark"):
        assert any(f.where == f"stories/one.html ({scheme})" and f.message.startswith("image-alt ")
                   for f in r.findings), r.problems


def test_axe_passes_a_clean_site(tmp_path: Path) -> None:
    needs_browser()
    site = write_site(tmp_path)
    (site / "style.css").write_text("body { color: #111; background: #fff; }\n"
                                    "@media (prefers-color-scheme: dark) { body { color: #eee; background: #111; }"
                                    " a { color: #9cf; } }\n",
                                    encoding="utf-8")
    page = site / "stories" / "one.html"
    page.write_text(page.read_text(encoding="utf-8").replace('<img src="../a.png">', ""), encoding="utf-8")
    r = check_web(site)
    assert r.passed and not r.findings, r.problems
    assert r.summary == "2 pages × light and dark: 0 violations"


def test_links_name_each_broken_target(tmp_path: Path) -> None:
    site = write_site(tmp_path)
    r = check_links(site)
    assert not r.passed
    # the audio is absent from this site, and so is the image; the link between the pages resolves
    page = str(site / "stories" / "one.html").replace(str(Path.cwd()) + "/", "")
    assert sorted(r.findings) == sorted([Finding("C-LINK-002", page, "../audio/one.mp3 does not exist"),
                                         Finding("C-LINK-002", page, "../a.png does not exist")]), r.problems
    (site / "index.html").write_text('<a href="../../outside.html">x</a>', encoding="utf-8")
    assert Finding("C-LINK-001", str(site / "index.html").replace(str(Path.cwd()) + "/", ""),
                   "../../outside.html points outside the site") in check_links(site).findings


def test_server_is_quiet_when_the_browser_hangs_up(tmp_path: Path, capsys) -> None:
    site = write_site(tmp_path)
    (site / "big.bin").write_bytes(b"\0" * (8 << 20))
    with serve(site) as base:
        with urllib.request.urlopen(base + "big.bin") as r:
            r.read(1024)    # and close with most of the file unsent
        with urllib.request.urlopen(base + "index.html") as r:
            assert b"<h1>Index</h1>" in r.read()
    assert "Traceback" not in capsys.readouterr().err


def test_check_web_stage_keeps_its_result_for_the_gate(tmp_path: Path) -> None:
    needs_browser()
    import json
    import subprocess
    import sys

    site = write_site(tmp_path)
    out = tmp_path / "axe.json"
    r = subprocess.run([sys.executable, "-m", "pipeline", "check-web", str(site), "-o", str(out)],
                       capture_output=True, text=True, cwd=ROOT)
    # violations are a result for the gate, not an error of the stage
    assert r.returncode == 0, r.stderr
    result = read_check_result(out, "axe")
    assert result.name == "axe" and not result.passed and result.ran and result.findings
    assert all(f.code == "C-AXE-001" for f in result.findings)
    assert json.loads(out.read_text(encoding="utf-8"))["findings"][0]["code"] == "C-AXE-001"
    assert read_web_result(out) == result
    # a missing or foreign result fails the gate instead of passing it, with the reader's code
    missing = read_web_result(tmp_path / "missing.json")
    assert not missing.passed and not missing.ran and missing.findings[0].code == "E-CHECK-001"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(CheckResult("links", True).to_dict()), encoding="utf-8")
    assert not read_web_result(other).passed and "not of 'axe'" in read_web_result(other).problems[0]
    (tmp_path / "old.json").write_text('{"name": "axe", "ok": true, "problems": []}', encoding="utf-8")
    assert not read_web_result(tmp_path / "old.json").passed


# ---------------------------------------------------------------------------- the locator


def _fake_tool(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    path.chmod(0o755)
    return path


def test_locator_overrides_win_and_a_bad_one_is_a_coded_error(tmp_path: Path, monkeypatch) -> None:
    browser = _fake_tool(tmp_path / "bin" / "my-chrome")
    java = _fake_tool(tmp_path / "jdk" / "bin" / "java")
    monkeypatch.setenv("CMP_CHROMIUM", str(browser))
    monkeypatch.setenv("CMP_JAVA", str(java))
    assert locate.chromium() == browser and locate.java() == java
    for var, find, code in (("CMP_CHROMIUM", locate.chromium, "E-TOOL-001"), ("CMP_JAVA", locate.java, "E-TOOL-002")):
        monkeypatch.setenv(var, str(tmp_path / "nothing-here"))
        with pytest.raises(locate.ToolMissing) as e:
            find()
        assert str(e.value).startswith(code) and var in str(e.value) and "nothing-here" in str(e.value)
    (tmp_path / "not-executable").write_text("", encoding="utf-8")
    monkeypatch.setenv("CMP_CHROMIUM", str(tmp_path / "not-executable"))
    with pytest.raises(locate.ToolMissing, match="E-TOOL-001.*not an executable"):
        locate.chromium()


def test_locator_finds_node_modules_from_the_working_directory_up(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("CMP_NODE_MODULES", raising=False)
    axe = tmp_path / "project" / "node_modules" / "axe-core" / "axe.min.js"
    axe.parent.mkdir(parents=True)
    axe.write_text("/* axe */", encoding="utf-8")
    deep = tmp_path / "project" / "texts" / "drafts"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert locate.node_file(locate.AXE_JS) == axe
    # a tool in no node_modules at all is named, with what to do
    with pytest.raises(locate.ToolMissing) as e:
        locate.node_file("no-such-tool/index.js")
    assert str(e.value).startswith("E-TOOL-003") and "no-such-tool/index.js" in str(e.value)
    assert "CMP_NODE_MODULES" in str(e.value)
    # the override wins over what is found, and names its folder when the tool is not there
    other = tmp_path / "elsewhere" / "node_modules"
    (other / "axe-core").mkdir(parents=True)
    (other / "axe-core" / "axe.min.js").write_text("/* other axe */", encoding="utf-8")
    monkeypatch.setenv("CMP_NODE_MODULES", str(other))
    assert locate.node_file(locate.AXE_JS) == other / "axe-core" / "axe.min.js"
    with pytest.raises(locate.ToolMissing, match=r"E-TOOL-003 .*elsewhere/node_modules/\.bin/ace-cli .*CMP_NODE_MODULES"):
        locate.node_file(locate.ACE_CLI)


def test_locator_works_from_an_installed_package(tmp_path: Path) -> None:
    """The package copied into a virtual environment's site-packages, run from an unrelated directory:
    node_modules is found beside the environment (the project that holds .venv), not beside the source."""
    import shutil
    import subprocess
    import sys

    site_packages = tmp_path / "proj" / ".venv" / "lib" / "python3" / "site-packages"
    shutil.copytree(ROOT / "pipeline", site_packages / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    axe = tmp_path / "proj" / "node_modules" / "axe-core" / "axe.min.js"
    axe.parent.mkdir(parents=True)
    axe.write_text("/* axe */", encoding="utf-8")
    elsewhere = tmp_path / "somewhere"
    elsewhere.mkdir()
    code = "import pipeline.system.locate as l; print(l.__file__); print(l.node_file(l.AXE_JS))"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site_packages)}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=elsewhere, env=env)
    assert r.returncode == 0, r.stderr
    module, found = r.stdout.split()
    assert Path(module).is_relative_to(site_packages) and Path(found) == axe


def test_a_missing_tool_stops_a_check_stage_with_its_code(tmp_path: Path) -> None:
    import subprocess
    import sys

    site = write_site(tmp_path)
    env_base = {"PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-m", "pipeline", "check-web", str(site), "-o", str(tmp_path / "axe.json")],
                       capture_output=True, text=True, cwd=ROOT, env={**env_base, "CMP_CHROMIUM": "/no/chromium"})
    assert r.returncode != 0 and "E-TOOL-001" in r.stderr and "CMP_CHROMIUM" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "axe.json").exists()
    epub = tmp_path / "book.epub"
    epub.write_bytes(b"PK")
    r = subprocess.run([sys.executable, "-m", "pipeline", "check-epub", str(epub)],
                       capture_output=True, text=True, cwd=ROOT, env={**env_base, "CMP_JAVA": "/no/java"})
    assert r.returncode == 1 and "E-TOOL-002" in r.stderr and "/no/java" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


# ---------------------------------------------------------------------------- the typed results and the gate


def test_check_results_round_trip_and_the_gate_orders_and_judges_them(tmp_path: Path, monkeypatch) -> None:
    """A result written is the result read back; the gate orders results by its list of checks (not by
    when they finish) and fails on ``passed`` alone, printing one coded line per finding."""
    import pipeline.checks.gate as gate
    from pipeline.model.contracts import read_check_results, write_check_results

    r = CheckResult("epub", False, (Finding("C-OVL-007", "EPUB/smil/a.smil", "clipEnd 9.000s is beyond"),),
                    "1 problem(s)", 2.34, subject_sha256="ab" * 32)
    write_check_results(tmp_path / "checks.json", [r, CheckResult("links", True, summary="ok")])
    back = read_check_results(tmp_path / "checks.json")
    assert back[0] == CheckResult("epub", False, r.findings, "1 problem(s)", 2.3, subject_sha256="ab" * 32)
    assert back[1].passed and back[1].findings == ()
    assert str(r.findings[0]) == "C-OVL-007 EPUB/smil/a.smil: clipEnd 9.000s is beyond"

    def fake(name: str, passed: bool, *findings: Finding):
        return lambda *a, **k: CheckResult(name, passed, findings, "summary text that nobody judges")

    # the light lane finishes first, in its own order: the gate still reports in CHECKS order
    monkeypatch.setattr(gate, "epub_check", fake("epub", True))
    monkeypatch.setattr(gate, "check_web", fake("axe", True))
    monkeypatch.setattr(gate, "check_audio", fake("loudness", True))
    monkeypatch.setattr(gate, "feed_check", fake("feed", False, Finding("C-FEED-017", "podcast.xml", "GUID gone")))
    monkeypatch.setattr(gate, "check_links", fake("links", True))

    class Book:
        id = "b"

        class audio:
            loudness, true_peak = -16.0, -1.0

    results = gate.run_checks(tmp_path, Book, None, tmp_path / "report")
    assert [x.name for x in results] == ["epub", "feed", "axe", "loudness", "links"]
    assert [x.name for x in results if not x.passed] == ["feed"]
    # a check that raises is a failed check that did not run, not a crash of the gate
    monkeypatch.setattr(gate, "check_links", lambda *a, **k: 1 / 0)
    links = gate.run_checks(tmp_path, Book, None, tmp_path / "report")[-1]
    assert links.name == "links" and not links.passed and not links.ran and links.findings[0].code == "C-RUN-001"
