"""Where the external tools are: Chromium, Java (for EPUBCheck) and the Node tools (DAISY Ace, axe-core,
podcast-partytime in ``node_modules``), found the same way by every check, from a checkout or from an
installed package.

Each can be named in the environment, and that wins:

    CMP_CHROMIUM       the Chromium (or Chrome) executable
                       default: /usr/bin/chromium (Debian's), else chromium, chromium-browser,
                       google-chrome on PATH
    CMP_JAVA           the java executable that runs EPUBCheck; default: java on PATH
    CMP_NODE_MODULES   the node_modules folder (as `npm ci` made it from package.json)
                       default: the first node_modules that has the tool, looking in the current
                       directory and its parents, then beside the package (the checkout) and its parents

What is missing is one coded line naming it and how to get it (an InputError, so the CLI prints it and
exits 1): E-TOOL-001 Chromium, E-TOOL-002 Java, E-TOOL-003 a Node tool.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from pipeline.model.problems import InputError, Problem, display_path

CHROMIUM_ENV, JAVA_ENV, NODE_MODULES_ENV = "CMP_CHROMIUM", "CMP_JAVA", "CMP_NODE_MODULES"
DEBIAN_CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: how every check runs Chromium: headless, no sandbox (root in containers), and nothing that reaches
#: the network on its own (updates, sync, QUIC)
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")

#: the Node tools the checks use, as paths inside node_modules
ACE_CLI = ".bin/ace-cli"
AXE_JS = "axe-core/axe.min.js"
PARTYTIME = "podcast-partytime"

PACKAGE = Path(__file__).resolve().parents[1]     # pipeline/


class ToolMissing(InputError):
    """A tool a check needs is not installed (or an override names nothing)."""


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _override(var: str, code: str, what: str, executable: bool = False) -> Path | None:
    """The path the environment variable ``var`` names (None when unset); one that does not exist, or
    with ``executable`` is not an executable file, is ``code``."""
    value = os.environ.get(var, "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.exists():
        raise ToolMissing(Problem(display_path(path), 0, code, f"{what} named by {var} does not exist"))
    if executable and not _executable(path):
        raise ToolMissing(Problem(display_path(path), 0, code, f"{what} named by {var} is not an executable file"))
    return path


def chromium() -> Path:
    """The Chromium executable (E-TOOL-001 when there is none)."""
    path = _override(CHROMIUM_ENV, "E-TOOL-001", "Chromium", executable=True)
    if path is not None:
        return path
    if _executable(DEBIAN_CHROMIUM):
        return DEBIAN_CHROMIUM
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    raise ToolMissing(Problem(str(DEBIAN_CHROMIUM), 0, "E-TOOL-001",
                              f"Chromium not found (nor {', '.join(CHROMIUM_NAMES)} on PATH): "
                              f"apt-get install chromium, or set {CHROMIUM_ENV}"))


def java() -> Path:
    """The java executable for EPUBCheck (E-TOOL-002 when there is none)."""
    path = _override(JAVA_ENV, "E-TOOL-002", "Java", executable=True)
    if path is not None:
        return path
    found = shutil.which("java")
    if found:
        return Path(found)
    raise ToolMissing(Problem("java", 0, "E-TOOL-002",
                              f"Java not found on PATH (EPUBCheck needs it): apt-get install default-jre-headless, "
                              f"or set {JAVA_ENV}"))


def node_module_dirs() -> list[Path]:
    """Where node_modules is looked for, in order (without the override): the current directory and its
    parents, then the package's parents (the checkout, or the environment it is installed in)."""
    cwd = Path.cwd().resolve()
    out: list[Path] = []
    for base in (cwd, *cwd.parents, *PACKAGE.parents):
        d = base / "node_modules"
        if d not in out:
            out.append(d)
    return out


def node_file(rel: str) -> Path:
    """A file or folder of a Node tool inside node_modules, e.g. ``node_file(AXE_JS)`` (E-TOOL-003 when
    no node_modules has it)."""
    root = _override(NODE_MODULES_ENV, "E-TOOL-003", "node_modules")
    if root is not None:
        if (root / rel).exists():
            return root / rel
        raise ToolMissing(Problem(display_path(root / rel), 0, "E-TOOL-003",
                                  f"{rel} is not in the node_modules named by {NODE_MODULES_ENV} (npm ci there)"))
    for d in node_module_dirs():
        if (d / rel).exists():
            return d / rel
    raise ToolMissing(Problem(f"node_modules/{rel}", 0, "E-TOOL-003",
                              f"{rel} not found in any node_modules from {display_path(Path.cwd())} up, nor beside "
                              f"the package: run `npm ci` in the project, or set "
                              f"{NODE_MODULES_ENV}"))
