"""The podcast feed: built over a small generated site, read back by three real consumers (npm
podcast-partytime, gPodder's podcastparser, feedparser), rebuilt byte for byte, edited without losing an
episode, and checked by the feed rules (each rule shown to fail on a broken site)."""
from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pipeline.checks.feed import check_feed, feed_check
from pipeline.model.contracts import Chapter, Fragment, SyncMap
from pipeline.model.problems import InputError
from pipeline.model.sources import load_book
from pipeline.stages import feed as feedmod
from pipeline.stages.feed import build_feed, episode_guid, podcast_guid
from pipeline.stages.syncmap import to_json_chapters, to_webvtt
from pipeline.system.locate import PARTYTIME as PARTYTIME_MODULE
from pipeline.system.locate import ToolMissing, node_file
from pipeline.system.mp3 import mp3_duration

ROOT = Path(__file__).resolve().parent.parent


def feed_problems(*args, **kwargs) -> list[str]:
    """The feed rules' findings as the lines the release prints (code, where, what)."""
    return [str(f) for f in check_feed(*args, **kwargs)]

PARTYTIME = ROOT / "tests" / "js" / "partytime.cjs"
FFMPEG = shutil.which("ffmpeg")
NODE = shutil.which("node")
SAFE_TAGS = {"p", "em", "strong", "ul", "ol", "li"}

# (file, front matter, body, audio source for ffmpeg or None when not narrated)
PARTS = [
    ("00-hauy.md",
     {"id": "hauy", "title": "Haüy & the <raised> \"type\"", "order": 0, "published": "2024-03-01",
      "subtitle": "Valentin Haüy’s school: reading by touch & <sound>"},
     "Valentin Haüy opened his school in 1784 & taught with \\<raised> letters. Readers said \"it works\". "
     "Some wrote `<script>alert(\"x\")</script>` on a **slate** with *care*.\n\n"
     "## The first readers\n\nThey read by touch, one letter at a time.\n\n"
     "## Questions for reflection\n\n### Digging deeper\n\n- What does \\<touch> change & why?\n"
     "- Is \"reading\" the same by ear?\n",
     "sine=frequency=440:duration=3"),
    ("01-poppys.md",
     {"id": "poppys", "title": "Poppy's \"open\" mortuary & café", "order": 1, "published": "2024-03-02",
      "subtitle": "Caring for the dead, and the bereaved"},
     "Poppy's opens its mortuary to visitors. Families decide, and staff walk beside them.\n\n"
     "## Open days\n\nA light-filled chapel in Lambeth Cemetery.\n\n"
     "## Questions for reflection\n\n- What separates this from good customer service?\n",
     "anoisesrc=duration=4:color=pink:amplitude=0.2"),
    ("02-colophon.md",
     {"id": "colophon", "title": "Colophon & <credits>", "order": 2, "published": "2024-03-03",
      "narrated": False},
     "Set in a typeface.\n", None),
    ("03-barking-dagenham.md",
     {"id": "barking-dagenham", "title": "Barking & Dagenham", "order": 3, "published": "2024-03-04",
      "subtitle": "Social work back to its roots"},
     "Radical, disruptive, activist: not words we link with council staff.\n\n"
     "## Thinking like an activist\n\nActivists believe they can make a difference.\n",
     "sine=frequency=220:duration=2.5"),
]


def _front_matter(fm: dict) -> str:
    lines = []
    for k, v in fm.items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, str) and k != "published":
            v = json.dumps(v, ensure_ascii=False)   # a JSON string is a YAML double-quoted scalar
        lines.append(f"{k}: {v}")
    return "---\n" + "\n".join(lines) + "\n---\n\n"


def _make_mp3(source: str, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([FFMPEG, "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source,
                    "-ac", "1", "-ar", "44100", "-c:a", "libmp3lame", "-b:a", "64k", str(out)], check=True)


def _make_cover(path: Path, size=(1400, 1400), mode="RGB", fmt="PNG") -> None:
    from PIL import Image

    Image.new(mode, size, (20, 52, 74) if mode == "RGB" else None).save(path, format=fmt)


def _make_site(root: Path) -> tuple[Path, Path]:
    """texts/ (the real book.toml, tricky parts) and site/ (audio, chapters, transcripts, cover, pages)."""
    texts, site = root / "texts", root / "site"
    texts.mkdir(parents=True)
    shutil.copy(ROOT / "texts" / "book.toml", texts / "book.toml")
    for name, fm, body, _ in PARTS:
        (texts / name).write_text(_front_matter(fm) + body, encoding="utf-8")
    book = load_book(texts)
    for part, (_, _, _, source) in zip(book.parts, PARTS):
        if source is None:
            continue
        _make_mp3(source, site / "audio" / f"{part.id}.mp3")
        duration = mp3_duration(site / "audio" / f"{part.id}.mp3")
        sentences = part.sentences()
        step = duration / len(sentences)
        frags = tuple(Fragment(id=s.id, text=s.text, begin=i * step, end=(i + 1) * step, confidence=1.0)
                      for i, s in enumerate(sentences))
        span = duration / len(part.sections)
        chapters = tuple(Chapter(id=sec.id, title=sec.title, begin=n * span, end=(n + 1) * span)
                         for n, sec in enumerate(part.sections))
        sync = SyncMap(part=part.id, audio=f"{part.id}.flac", duration=duration, fragments=frags, chapters=chapters)
        (site / "chapters").mkdir(parents=True, exist_ok=True)
        (site / "transcripts").mkdir(parents=True, exist_ok=True)
        (site / "chapters" / f"{part.id}.json").write_text(to_json_chapters(sync, part.title), encoding="utf-8")
        (site / "transcripts" / f"{part.id}.vtt").write_text(to_webvtt(sync, part.title), encoding="utf-8")
        (site / "stories").mkdir(parents=True, exist_ok=True)
        (site / "stories" / f"{part.id}.html").write_text("<!doctype html><title>story</title>", encoding="utf-8")
    (site / "index.html").write_text("<!doctype html><title>site</title>", encoding="utf-8")
    _make_cover(site / "cover.png")
    return texts, site


def _build(texts: Path, site: Path, previous: Path | None = None) -> bytes:
    data = build_feed(load_book(texts), site, previous)
    (site / "podcast.xml").write_bytes(data)
    return data


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    if FFMPEG is None:
        pytest.skip("ffmpeg is not installed")
    root = tmp_path_factory.mktemp("feed")
    texts, site = _make_site(root)
    _build(texts, site)
    return texts, site


@pytest.fixture
def copy(built, tmp_path):
    """A private copy of the built texts and site, to break."""
    texts, site = built
    shutil.copytree(texts, tmp_path / "texts")
    shutil.copytree(site, tmp_path / "site")
    return tmp_path / "texts", tmp_path / "site"


def _expected(texts: Path, site: Path) -> list[dict]:
    book = load_book(texts)
    out = []
    for part in book.narrated_parts:
        mp3 = site / "audio" / f"{part.id}.mp3"
        out.append({
            "id": part.id, "title": part.title, "guid": episode_guid(book, part),
            "url": f"{book.podcast.base_url}audio/{part.id}.mp3", "length": mp3.stat().st_size,
            "duration": round(mp3_duration(mp3)),
        })
    return out


# ---------------------------------------------------------------------------- three real consumers


def _partytime(feed: Path) -> dict:
    if NODE is None:
        pytest.skip("node is not installed")
    try:
        module = node_file(PARTYTIME_MODULE)
    except ToolMissing as e:
        pytest.skip(str(e))
    r = subprocess.run([NODE, str(PARTYTIME), str(module), str(feed)], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_partytime_sees_every_episode_and_the_podcasting20_tags(built):
    texts, site = built
    book = load_book(texts)
    want = _expected(texts, site)
    got = _partytime(site / "podcast.xml")
    assert [(i["title"], i["guid"], i["enclosure"]["url"], i["enclosure"]["length"], i["duration"])
            for i in got["items"]] == [(w["title"], w["guid"], w["url"], w["length"], w["duration"]) for w in want]
    base = book.podcast.base_url
    for item, w in zip(got["items"], want):
        assert item["enclosure"]["type"] == "audio/mpeg"
        assert item["chapters"] == {"url": f"{base}chapters/{w['id']}.json", "type": "application/json+chapters"}
        assert item["transcripts"] == [{"url": f"{base}transcripts/{w['id']}.vtt", "type": "text/vtt",
                                        "language": "en-GB", "rel": "captions"}]
        assert item["episodeType"] == "full"
    assert [i["episode"] for i in got["items"]] == [1, 2, 3]
    # podcast:guid per the namespace: UUIDv5 of the feed URL without scheme
    assert got["guid"] == str(uuid.uuid5(uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6"),
                                         "casemaker.example.org/podcast.xml"))
    assert got["locked"] is True and got["podcastOwner"] == book.podcast.email
    people = {(p["name"], p["role"], p["group"]) for p in got["people"]}
    assert {(a, "Author", "Writing") for a in book.authors} | {(book.narrator, "Narrator", "Cast")} == people
    assert got["license"]["identifier"] == "all-rights-reserved"
    assert got["itunesType"] == "serial" and got["explicit"] is False
    assert got["itunesImage"] == base + "cover.png"
    assert got["owner"] == {"name": book.podcast.owner, "email": book.podcast.email}


def test_podcastparser_sees_every_episode(built):
    import podcastparser

    texts, site = built
    want = _expected(texts, site)
    with open(site / "podcast.xml", "rb") as f:
        got = podcastparser.parse("https://casemaker.example.org/podcast.xml", f)
    eps = got["episodes"]
    # podcastparser lists episodes newest first
    eps = sorted(eps, key=lambda e: e["number"])
    assert [(e["title"], e["guid"], e["enclosures"][0]["url"], e["enclosures"][0]["file_size"],
             e["enclosures"][0]["mime_type"], e["total_time"]) for e in eps] == \
        [(w["title"], w["guid"], w["url"], w["length"], "audio/mpeg", w["duration"]) for w in want]
    assert [e["number"] for e in eps] == [1, 2, 3] and {e["type"] for e in eps} == {"full"}
    assert got["type"] == "serial" and got["cover_url"] == "https://casemaker.example.org/cover.png"
    # it knows only the old podcast namespace for chapters: it reads our inline Podlove chapters instead
    for e, w in zip(eps, want):
        data = json.loads((site / "chapters" / f"{w['id']}.json").read_text(encoding="utf-8"))
        assert [c["title"] for c in e["chapters"]] == [c["title"] for c in data["chapters"]]


def test_feedparser_sees_every_episode(built):
    import feedparser

    texts, site = built
    want = _expected(texts, site)
    got = feedparser.parse(str(site / "podcast.xml"))
    assert not got.bozo, got.get("bozo_exception")
    assert [(e.title, e.id, e.enclosures[0].href, int(e.enclosures[0].length), e.enclosures[0].type,
             int(e.itunes_duration)) for e in got.entries] == \
        [(w["title"], w["guid"], w["url"], w["length"], "audio/mpeg", w["duration"]) for w in want]
    assert got.feed.podcast_guid == podcast_guid("https://casemaker.example.org/podcast.xml")


def test_titles_with_markup_characters_survive_in_every_parser(built):
    texts, site = built
    titles = [w["title"] for w in _expected(texts, site)]
    assert titles[0] == 'Haüy & the <raised> "type"' and titles[1] == 'Poppy\'s "open" mortuary & café'
    import feedparser
    import podcastparser

    assert [i["title"] for i in _partytime(site / "podcast.xml")["items"]] == titles
    with open(site / "podcast.xml", "rb") as f:
        pp = sorted(podcastparser.parse("x", f)["episodes"], key=lambda e: e["number"])
    assert [e["title"] for e in pp] == titles
    assert [e.title for e in feedparser.parse(str(site / "podcast.xml")).entries] == titles


# ---------------------------------------------------------------------------- safe text


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        assert not attrs, f"attributes in feed HTML: {tag} {attrs}"

    def handle_data(self, data):
        self.text.append(data)


def test_descriptions_are_a_safe_html_subset_with_text_escaped(built):
    from lxml import etree

    texts, site = built
    raw = (site / "podcast.xml").read_bytes()
    assert b"<script" not in raw.lower()
    # the HTML each item carries, as an XML parser (feedparser, podcastparser, Apple) reads it
    descs = [i.findtext("description") for i in etree.parse(str(site / "podcast.xml")).getroot().iter("item")]
    assert len(descs) == 3
    desc = descs[0]
    assert "<script" not in desc.lower() and "&lt;script&gt;" in desc
    for d in descs:
        p = _Tags()
        p.feed(d)
        assert p.tags <= SAFE_TAGS, p.tags
    p = _Tags()
    p.feed(desc)
    text = "".join(p.text)
    # subtitle, summary (its emphasis as <strong>) and the questions for reflection, all as text
    assert "Valentin Haüy’s school: reading by touch & <sound>" in text
    assert 'Some wrote <script>alert("x")</script> on a slate' in text
    assert "<strong>slate</strong>" in desc and "What does <touch> change & why?" in text
    assert "Questions for reflection" in text and "Is \"reading\" the same by ear?" in text
    # podcastparser and feedparser keep it escaped (feedparser also sanitises); partytime decodes entities
    # twice (fast-xml-parser, then he.decode), so it is not the judge of escaping
    import feedparser
    import podcastparser

    with open(site / "podcast.xml", "rb") as f:
        pp = sorted(podcastparser.parse("x", f)["episodes"], key=lambda e: e["number"])
    assert pp[0]["description_html"] == desc
    fp = feedparser.parse(str(site / "podcast.xml"))
    assert "<script" not in fp.entries[0].summary and "&lt;script&gt;" in fp.entries[0].summary


def test_markdown_descriptions_become_safe_html():
    html = feedmod.markdown_html("Some *emphasis* & <script>alert(1)</script> [a link](javascript:alert(1))\n\n"
                                 "- one\n- two <b>bold</b>\n")
    assert "<script" not in html and "<b>" not in html and "<a" not in html
    assert "<em>emphasis</em>" in html and "<li>one</li>" in html and "&lt;script&gt;" in html
    p = _Tags()
    p.feed(html)
    assert p.tags <= SAFE_TAGS | {"code", "br"}


def test_channel_description_is_at_most_4000_bytes(copy):
    texts, site = copy
    toml = (texts / "book.toml").read_text(encoding="utf-8")
    long = "Relationships matter in every café. " * 200
    toml = toml.replace('description = """', f'description = """{long}', 1)
    (texts / "book.toml").write_text(toml, encoding="utf-8")
    _build(texts, site)
    from lxml import etree

    desc = etree.parse(str(site / "podcast.xml")).getroot().findtext("channel/description")
    assert 3000 < len(desc.encode("utf-8")) <= 4000 and desc.endswith("…")
    assert feed_problems(site, load_book(texts)) == []


def test_podcast_guid_matches_the_namespace_examples():
    assert podcast_guid("https://mp3s.nashownotes.com/pc20rss.xml") == "917393e3-1b1e-5cef-ace4-edaa54e1f810"
    assert podcast_guid("podnews.net/rss////") == podcast_guid("https://podnews.net/rss/") == \
        "9b024349-ccf0-5f69-a609-6b82873eab3c"


# ---------------------------------------------------------------------------- determinism and stability


def test_rebuild_is_byte_identical(built):
    texts, site = built
    first = (site / "podcast.xml").read_bytes()
    assert build_feed(load_book(texts), site, None) == first
    assert b"python-feedgen" not in first
    assert b"<lastBuildDate>Mon, 04 Mar 2024 09:00:00 +0000</lastBuildDate>" in first


def _items(feed: Path) -> list[dict]:
    from lxml import etree

    root = etree.parse(str(feed)).getroot()
    return [{"title": i.findtext("title"), "guid": i.findtext("guid"), "enclosure": dict(i.find("enclosure").attrib)}
            for i in root.iter("item")]


def test_editing_a_title_and_text_keeps_guids_and_enclosures(copy):
    texts, site = copy
    before = _items(site / "podcast.xml")
    f = texts / "01-poppys.md"
    src = f.read_text(encoding="utf-8")
    src = src.replace('title: "Poppy\'s \\"open\\" mortuary & café"', 'title: "Poppy’s: a mortuary with open doors"')
    src = src.replace("Families decide, and staff walk beside them.", "Families decide everything themselves.")
    src = src.replace("published: 2024-03-02", "published: 2024-03-03")
    assert src != f.read_text(encoding="utf-8")
    f.write_text(src, encoding="utf-8")
    _build(texts, site, previous=None)
    after = _items(site / "podcast.xml")
    assert after[1]["title"] == "Poppy’s: a mortuary with open doors" != before[1]["title"]
    assert [i["guid"] for i in after] == [i["guid"] for i in before]
    assert [i["enclosure"] for i in after] == [i["enclosure"] for i in before]
    assert feed_problems(site, load_book(texts), previous=None) == []


# ---------------------------------------------------------------------------- the feed rules


def test_check_feed_passes_on_a_good_site(built):
    texts, site = built
    assert feed_problems(site, load_book(texts)) == []


def test_check_feed_catches_a_missing_file(copy):
    texts, site = copy
    (site / "transcripts" / "poppys.vtt").unlink()
    (site / "audio" / "barking-dagenham.mp3").unlink()
    problems = feed_problems(site, load_book(texts))
    assert any("transcripts/poppys.vtt does not resolve" in p for p in problems), problems
    assert any("audio/barking-dagenham.mp3 does not resolve" in p for p in problems), problems
    assert len(problems) == 2
    # the gate's typed result: failed, each finding coded (a URL that names no file of the site)
    result = feed_check(site, load_book(texts))
    assert result.name == "feed" and not result.passed and result.ran
    assert [f.code for f in result.findings] == ["C-FEED-015", "C-FEED-015"]
    assert all(f.where.endswith("podcast.xml") for f in result.findings)
    with pytest.raises(InputError) as e:
        build_feed(load_book(texts), site, None)
    assert {p.code for p in e.value.problems} == {"E-FEED-001"} and len(e.value.problems) == 2


def test_check_feed_catches_a_wrong_length_and_duration(copy):
    texts, site = copy
    with open(site / "audio" / "hauy.mp3", "ab") as f:
        f.write(b"\0" * 333)
    xml = (site / "podcast.xml").read_text(encoding="utf-8")
    dur = round(mp3_duration(site / "audio" / "poppys.mp3"))
    i = xml.index("audio/poppys.mp3")
    xml = xml[:i] + xml[i:].replace(f"<itunes:duration>{dur}<", f"<itunes:duration>{dur + 7}<", 1)
    (site / "podcast.xml").write_text(xml, encoding="utf-8")
    problems = feed_problems(site, load_book(texts))
    assert any(p.startswith("C-FEED-011 ") and "enclosure length" in p and "hauy.mp3" in p for p in problems), problems
    assert any(f"itunes:duration {dur + 7} s does not match" in p for p in problems), problems


def test_check_feed_catches_a_duplicate_guid(copy):
    texts, site = copy
    book = load_book(texts)
    g0, g1 = (episode_guid(book, p) for p in book.narrated_parts[:2])
    xml = (site / "podcast.xml").read_text(encoding="utf-8").replace(g1, g0)
    (site / "podcast.xml").write_text(xml, encoding="utf-8")
    problems = feed_problems(site, book)
    assert [p for p in problems if "same guid" in p] and len(problems) == 1, problems


def test_vanished_guid_is_an_error_unless_retired(copy, tmp_path):
    texts, site = copy
    previous = tmp_path / "published.xml"
    shutil.copy(site / "podcast.xml", previous)
    book = load_book(texts)
    gone = episode_guid(book, book.part("poppys"))
    (texts / "01-poppys.md").unlink()
    with pytest.raises(InputError) as e:
        _build(texts, site, previous)
    assert [p.code for p in e.value.problems] == ["E-FEED-004"] and gone in str(e.value)
    _build(texts, site)                                    # without the published feed it builds...
    problems = feed_problems(site, load_book(texts), previous)  # ...but the check catches the loss
    assert len(problems) == 1 and gone in problems[0] and "retired_guids" in problems[0]
    toml = (texts / "book.toml").read_text(encoding="utf-8")
    (texts / "book.toml").write_text(toml.replace("retired_guids = []", f'retired_guids = ["{gone}"]'),
                                     encoding="utf-8")
    assert feed_problems(site, load_book(texts), previous) == []
    _build(texts, site, previous)
    assert feed_problems(site, load_book(texts), previous) == []


@pytest.mark.parametrize("size,mode,fmt,expect", [
    ((1000, 1000), "RGB", "PNG", "not 1400–3000 px"),
    ((3200, 3200), "RGB", "PNG", "not 1400–3000 px"),
    ((1400, 1500), "RGB", "PNG", "not square"),
    ((1400, 1400), "RGBA", "PNG", "not RGB"),
    ((1400, 1400), "CMYK", "JPEG", "not RGB"),
    ((1400, 1400), "RGB", "GIF", "not PNG or JPEG"),
])
def test_check_feed_catches_bad_artwork(copy, size, mode, fmt, expect):
    texts, site = copy
    (site / "cover.png").unlink()
    _make_cover(site / "cover.png", size, "P" if fmt == "GIF" else mode, fmt)
    problems = feed_problems(site, load_book(texts))
    assert any(expect in p for p in problems), problems


def test_check_feed_catches_missing_artwork(copy):
    texts, site = copy
    (site / "cover.png").unlink()
    problems = feed_problems(site, load_book(texts))
    assert any("cover.png does not resolve" in p for p in problems), problems


def test_check_feed_catches_a_missing_apple_tag(copy):
    texts, site = copy
    xml = (site / "podcast.xml").read_text(encoding="utf-8")
    import re

    xml = re.sub(r"\s*<itunes:category[^>]*/>", "", xml)
    xml = re.sub(r"\s*<itunes:explicit>[^<]*</itunes:explicit>", "", xml)
    (site / "podcast.xml").write_text(xml, encoding="utf-8")
    problems = feed_problems(site, load_book(texts))
    assert any("itunes:category" in p for p in problems) and any("itunes:explicit" in p for p in problems)


def test_cli_feed_and_check_feed(copy, tmp_path):
    texts, site = copy
    py = str(ROOT / ".venv" / "bin" / "python")
    out = tmp_path / "cli.xml"
    r = subprocess.run([py, "-m", "pipeline", "feed", str(texts), "--site", str(site), "-o", str(out)],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == (site / "podcast.xml").read_bytes()
    r = subprocess.run([py, "-m", "pipeline", "check-feed", str(site), "--texts", str(texts)],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("ok"), r.stderr
    (site / "chapters" / "hauy.json").unlink()
    r = subprocess.run([py, "-m", "pipeline", "check-feed", str(site), "--texts", str(texts)],
                       cwd=ROOT, capture_output=True, text=True)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 3 and len(lines) == 1 and lines[0].startswith("FAIL ") and "hauy.json" in lines[0]
    r = subprocess.run([py, "-m", "pipeline", "feed", str(texts), "--site", str(site), "-o", str(out)],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 1 and "E-FEED-001" in r.stderr and "Traceback" not in r.stderr


# ---------------------------------------------------------------------------- the real book


def test_feed_over_the_real_built_site(tmp_path):
    """The real texts/ over the real output/ (read only: the site is mirrored by symlinks into tmp_path,
    and the feed written there)."""
    output = ROOT / "build" / "site"
    if not (output / "audio").is_dir():
        pytest.skip("build/site/audio not built yet (make site)")
    book = load_book(ROOT / "texts")
    missing = [p.id for p in book.narrated_parts
               if not all(x.is_file() for x in (feedmod.audio_path(output, p), feedmod.chapters_path(output, p),
                                                 feedmod.transcript_path(output, p)))]
    if missing:
        pytest.skip(f"output/ is partly built (no audio, chapters or transcript for {', '.join(missing)})")
    site = tmp_path / "site"
    site.mkdir()
    for entry in output.iterdir():
        if entry.name != "podcast.xml":
            (site / entry.name).symlink_to(entry)
    if not (site / "cover.png").exists():
        if not (ROOT / "build" / "cover.png").is_file():
            pytest.skip("no cover built (build/cover.png)")
        shutil.copy(ROOT / "build" / "cover.png", site / "cover.png")
    data = build_feed(book, site, None)
    (site / "podcast.xml").write_bytes(data)
    assert build_feed(book, site, None) == data
    want = [(p.title, episode_guid(book, p), f"{book.podcast.base_url}audio/{p.id}.mp3",
             feedmod.audio_path(output, p).stat().st_size, round(mp3_duration(feedmod.audio_path(output, p))))
            for p in book.narrated_parts]
    got = _partytime(site / "podcast.xml")
    assert [(i["title"], i["guid"], i["enclosure"]["url"], i["enclosure"]["length"], i["duration"])
            for i in got["items"]] == want
    import feedparser
    import podcastparser

    with open(site / "podcast.xml", "rb") as f:
        pp = sorted(podcastparser.parse("x", f)["episodes"], key=lambda e: e["number"])
    assert [(e["title"], e["guid"], e["enclosures"][0]["url"], e["enclosures"][0]["file_size"], e["total_time"])
            for e in pp] == want
    fp = feedparser.parse(str(site / "podcast.xml"))
    assert not fp.bozo
    assert [(e.title, e.id, e.enclosures[0].href, int(e.enclosures[0].length), int(e.itunes_duration))
            for e in fp.entries] == want
    problems = feed_problems(site, book)
    if not (output / "index.html").exists():
        # the web edition (index.html, stories/ID.html) is another stage's output, not built yet
        problems = [p for p in problems
                    if not ("does not resolve" in p and ("index.html" in p or "/stories/" in p))]
    assert problems == []
