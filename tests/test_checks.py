"""The release checks of `pipeline check` that belong to no single stage, on small generated sites: axe
in both colour schemes (one page, the scheme switched by media emulation, must still see what only the
dark scheme gets wrong), links, and the quiet preview server."""
from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from pipeline.checks import gate as checks
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
    r = checks.check_web(site)
    assert not r["ok"]
    assert r["summary"] == f"{len(r['problems'])} violation(s)"
    dark_contrast = [p for p in r["problems"] if "(dark): color-contrast " in p]
    assert {p.split(" ")[0] for p in dark_contrast} == {"index.html", "stories/one.html"}, r["problems"]
    assert not [p for p in r["problems"] if "(light): color-contrast" in p], r["problems"]
    # a fault in the markup is found in both schemes
    for scheme in ("light", "dark"):
        assert any(p.startswith(f"stories/one.html ({scheme}): image-alt ") for p in r["problems"]), r["problems"]


def test_axe_passes_a_clean_site(tmp_path: Path) -> None:
    needs_browser()
    site = write_site(tmp_path)
    (site / "style.css").write_text("body { color: #111; background: #fff; }\n"
                                    "@media (prefers-color-scheme: dark) { body { color: #eee; background: #111; }"
                                    " a { color: #9cf; } }\n",
                                    encoding="utf-8")
    page = site / "stories" / "one.html"
    page.write_text(page.read_text(encoding="utf-8").replace('<img src="../a.png">', ""), encoding="utf-8")
    r = checks.check_web(site)
    assert r["ok"], r["problems"]
    assert r["summary"] == "2 pages × light and dark: 0 violations"


def test_links_name_each_broken_target(tmp_path: Path) -> None:
    site = write_site(tmp_path)
    r = checks.check_links(site)
    assert not r["ok"]
    # the audio is absent from this site, and so is the image; the link between the pages resolves
    assert sorted(r["problems"]) == sorted([
        f"{site / 'stories' / 'one.html'}: ../audio/one.mp3 does not exist".replace(str(Path.cwd()) + "/", ""),
        f"{site / 'stories' / 'one.html'}: ../a.png does not exist".replace(str(Path.cwd()) + "/", ""),
    ]), r["problems"]


def test_server_is_quiet_when_the_browser_hangs_up(tmp_path: Path, capsys) -> None:
    site = write_site(tmp_path)
    (site / "big.bin").write_bytes(b"\0" * (8 << 20))
    with checks.serve(site) as base:
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
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["name"] == "axe" and not result["ok"] and result["problems"]
    assert checks.read_web_result(out) == result
    # a missing or foreign result fails the gate instead of passing it
    assert not checks.read_web_result(tmp_path / "missing.json")["ok"]
    (tmp_path / "other.json").write_text('{"name": "links", "ok": true, "problems": []}', encoding="utf-8")
    assert not checks.read_web_result(tmp_path / "other.json")["ok"]


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
