"""The release checks of `pipeline check` that belong to no single stage, on small generated sites: axe
in both colour schemes (one page, the scheme switched by media emulation, must still see what only the
dark scheme gets wrong), links, and the quiet preview server."""
from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from pipeline.checks import gate as checks
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
    """What check_web itself needs: Debian's Chromium (driven over CDP, pipeline/system/cdp.py) and axe-core."""
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("needs Debian's /usr/bin/chromium")
    if not (checks.ROOT / "node_modules" / "axe-core" / "axe.min.js").exists():
        pytest.skip("needs node_modules/axe-core (npm ci)")


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
                       capture_output=True, text=True, cwd=checks.ROOT)
    # violations are a result for the gate, not an error of the stage
    assert r.returncode == 0, r.stderr
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["name"] == "axe" and not result["ok"] and result["problems"]
    assert checks.read_web_result(out) == result
    # a missing or foreign result fails the gate instead of passing it
    assert not checks.read_web_result(tmp_path / "missing.json")["ok"]
    (tmp_path / "other.json").write_text('{"name": "links", "ok": true, "problems": []}', encoding="utf-8")
    assert not checks.read_web_result(tmp_path / "other.json")["ok"]
