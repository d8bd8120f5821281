"""The links check of the release gate: every relative link and source in the site's pages resolves to
a file inside the site."""
from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

from pipeline.model.contracts import CheckResult, Finding
from pipeline.model.problems import display_path

_LINK = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']+)["']""")


def check_links(site: Path) -> CheckResult:
    """("links"): C-LINK-001 a link that leaves the site, C-LINK-002 one to a file that does not exist."""
    t = time.perf_counter()
    findings: list[Finding] = []
    pages = sorted(site.rglob("*.html"))
    for page in pages:
        for target in _LINK.findall(page.read_text(encoding="utf-8")):
            u = urlparse(target)
            if u.scheme or target.startswith(("#", "//", "mailto:", "data:")):
                continue
            path = (page.parent / unquote(u.path)).resolve()
            if path.is_dir():
                path = path / "index.html"
            try:
                path.relative_to(site.resolve())
            except ValueError:
                findings.append(Finding("C-LINK-001", display_path(page), f"{target} points outside the site"))
                continue
            if not path.exists():
                findings.append(Finding("C-LINK-002", display_path(page), f"{target} does not exist"))
    return CheckResult("links", not findings, tuple(findings),
                       f"{len(pages)} pages, every link resolves" if not findings
                       else f"{len(findings)} broken link(s)", time.perf_counter() - t)
