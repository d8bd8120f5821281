"""The manuscript importer: the real Case Maker export split into parts, and small synthetic manuscripts."""
from __future__ import annotations

import datetime as dt
import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from any directory, not only the repository root
    sys.path.insert(0, str(ROOT))

from pipeline.extras.importer import (  # noqa: E402
    ManuscriptError,
    import_manuscript,
    join_broken_paragraphs,
    sentence_case,
    should_join,
    slugify,
)

SOURCE = Path(__file__).resolve().parents[2] / "shared/source/case-maker.md"

STORY_IDS = [
    "grapevine", "gateshead-bridgebuilders", "switchback", "xenia", "poppys", "maia",
    "community-groups", "barking-dagenham", "nhs-palliative-care",
]
ALL_IDS = ["introduction", *STORY_IDS, "summary"]
FRONT_MATTER_KEYS = {"id", "title", "subtitle", "order", "published", "print_page"}
QUESTIONS = "Questions for reflection"

# the section headings of each story, in order, as the source has them (its ###/#### split is
# typography: every one of them is a section of the story)
EXPECTED_SECTIONS = {
    "grapevine": [
        "Starting with a dream", "Collaboration station", "Cementing the why", "The long story",
        "Beyond inclusion", "Walking alongside communities", "Relationships rather than fixes", QUESTIONS,
    ],
    "gateshead-bridgebuilders": [
        "Asking the people in the know", "Hyper-local decision making", "Expanding the web",
        "Openness and unlearning", "Good decisions and good relationships", "Relational system-level change",
        QUESTIONS,
    ],
    "switchback": [
        "Both sides of the gate", "Breaking vicious cycles", "A mutual decision", "Taking it slow",
        "Flexing to individual needs", "Good endings", "Doing what you say", "Being yourself with boundaries",
        "Positionality and power", "The stuff we all need", QUESTIONS,
    ],
    "xenia": [
        "Love for strangers", "The value of repetition", "Shared questions",
        "Mutual learning and non-hierarchical organisation", "Safe spaces to disagree", "Just being there",
        "Growing while keeping the essence", QUESTIONS,
    ],
    "poppys": [
        "Redressing the power imbalance", "A link in a chain of support", "Open day at the mortuary",
        "A relational approach to dead clients", "Human and professional", "Talking about difficult things",
        "Staying human and open-hearted", "Structure and space", "Managed, controlled flexibility",
        "Decorating a coffin", QUESTIONS,
    ],
    "maia": [
        "Making space", "Culture as strategy", "Bricks and mortar", "Art school", "The organising starts here",
        "Start with the relationships", QUESTIONS,
    ],
    "community-groups": [
        "Moston Social Clean-Ups", "Jean’s Bothy, Helensburgh", "Make/Shift, Derbyshire", QUESTIONS,
    ],
    "barking-dagenham": [
        "Thinking like an activist", "Hopeful disruption", "Breakthroughs in relationships", "Sharing power",
        "Relational work at scale", "Team around the relationship", QUESTIONS,
    ],
    "nhs-palliative-care": [
        "Relationships at scale", "Small acts of resistance", "The stuff that happens between people",
        "The gap between intentions and outcomes", "Ticking boxes", "A longer conversation",
        "Investing to save later", "Measuring preventative benefits", "Results through relationships",
        "Doing what matters", "Bespoke by default", "Weighing risks", "Changing the everyday stuff",
        "Rolling in", QUESTIONS,
    ],
}

# passages the export cuts at a page break (or across a dropped "Image source" line, or inside a
# quotation): each must come out inside one paragraph
KNOWN_JOINS = [
    ("switchback", "it’s raining and you don’t know how to get back to London.’ And the men laugh"),
    ("switchback", "something everyone knows you need in order to change your life"),
    ("switchback", "If someone is curious or interested, I start building a relationship."),
    ("switchback", "I have to be mindful of who I am and who I'm talking to"),
    ("grapevine", "Or work with the young people so they leave them alone? Instead of focusing"),
    ("grapevine", "services to solve that problem, to thinking: ‘actually we can help solve that problem’"),
    ("gateshead-bridgebuilders", "“not having ‘do this on a Thursday’ or ‘fill in this spreadsheet"),
    ("gateshead-bridgebuilders", "Isn’t the issue Lankelly Chase identified an information problem"),
    ("xenia", "We've missed very few sessions; we've missed ones that are literally on Christmas day."),
    ("xenia", "or a bit of reading. Sometimes there's a video, or a visitor who comes in"),
    ("xenia", "and that all women are welcome. Then we go round"),
    ("poppys", "Poppy's build a relationship with their community in an open, generous way"),
    ("maia", "In these sessions, Amber says, “the conversation about what we're making"),
    ("maia", "the transformative power of art, and life in the West Midlands"),
    ("community-groups", "strengthening their local support network, learning new skills"),
    ("barking-dagenham", "‘have contact with their family’, they arrange ‘family time’."),
    ("nhs-palliative-care", "The deprioritisation of relational work in the NHS is, in part,"),
    ("nhs-palliative-care", "hoping it’s received, or repeatedly checking and chasing"),
    ("nhs-palliative-care", "I can say that the interaction felt good, as can the patient and his son."),
]


# ----------------------------------------------------------------------------------------- helpers


def split_front_matter(text: str) -> tuple[dict, str]:
    assert text.startswith("---\n"), "a part starts with YAML front matter"
    _, fm, body = text.split("---\n", 2)
    return yaml.safe_load(fm), body


def blocks_of(body: str) -> list[str]:
    """The body's blocks (paragraphs, quotes, lists, headings), separated by blank lines."""
    return [b.strip() for b in re.split(r"\n\s*\n", body) if b.strip()]


def paragraphs_of(body: str) -> list[str]:
    return [b for b in blocks_of(body) if not b.startswith(("#", "- "))]


def headings_of(body: str, level: int) -> list[str]:
    return re.findall(rf"^{'#' * level} (.+)$", body, re.M)


def questions_section(body: str) -> tuple[list[str], list[str], str]:
    """(Digging deeper items, Applying the learning items, text after the lists) of the Questions section."""
    _, _, tail = body.partition(f"## {QUESTIONS}\n")
    m = re.fullmatch(r"\s*### Digging deeper\n\n((?:- .+\n)+)\n### Applying the learning\n\n((?:- .+\n)+)(.*)",
                     tail, re.S)
    assert m, "the Questions section holds a Digging deeper list and an Applying the learning list"
    items = lambda s: [line[2:] for line in s.splitlines()]  # noqa: E731
    return items(m.group(1)), items(m.group(2)), m.group(3)


TERMINAL = tuple(".?!:…”’\")")


@pytest.fixture(scope="module")
def parts(tmp_path_factory) -> dict[str, tuple[Path, dict, str]]:
    if not SOURCE.is_file():
        pytest.skip(f"the Case Maker source is not available at {SOURCE}")
    out = tmp_path_factory.mktemp("texts")
    written = import_manuscript(SOURCE, out)
    result = {}
    for path in written:
        meta, body = split_front_matter(path.read_text(encoding="utf-8"))
        result[meta["id"]] = (path, meta, body)
    return result


# ------------------------------------------------------------------------------ the real manuscript


def test_parts_are_the_introduction_nine_stories_and_the_summary(parts):
    names = [p.name for p, _, _ in parts.values()]
    assert names == [f"{n:02d}-{pid}.md" for n, pid in enumerate(ALL_IDS)]
    assert [pid for pid in parts if pid not in ("introduction", "summary")] == STORY_IDS


def test_front_matter_parses_and_matches_the_file_name(parts):
    for pid, (path, meta, _) in parts.items():
        assert set(meta) <= FRONT_MATTER_KEYS, path.name
        assert {"id", "title", "subtitle", "order", "published"} <= set(meta), path.name
        nn, file_id = re.fullmatch(r"(\d\d)-([a-z0-9-]+)\.md", path.name).groups()
        assert meta["id"] == file_id == pid
        assert meta["order"] == int(nn)
        assert meta["published"] == dt.date(2024, 3, 1) + dt.timedelta(days=meta["order"])
        assert isinstance(meta["title"], str) and meta["title"].strip()
        assert isinstance(meta["subtitle"], str) and meta["subtitle"].strip()
        assert not re.search(r"[*\\_]", meta["title"] + meta["subtitle"]), path.name


def test_titles_subtitles_and_print_pages_come_from_the_source(parts):
    meta = {pid: m for pid, (_, m, _) in parts.items()}
    assert meta["grapevine"]["subtitle"] == "Addressing entrenched social issues relationally not reactively"
    assert meta["xenia"]["subtitle"] == "Building social integration through mutual learning and meeting as equals"
    assert meta["poppys"]["subtitle"] == "Bringing a more flexible, relational approach to the deathcare sector"
    assert meta["barking-dagenham"]["title"] == "Barking & Dagenham: Children's Social Services"
    assert meta["maia"]["title"] == "MAIA"
    assert meta["community-groups"]["title"] == "Three Community Groups"
    pages = [meta[pid].get("print_page") for pid in STORY_IDS]
    assert pages == [14, 18, 23, 29, 33, 38, 42, 47, 51]
    assert meta["summary"]["subtitle"] == "Making your own case for relationships"


def test_no_paragraph_is_cut_at_a_page_break(parts):
    for _pid, (path, _, body) in parts.items():
        blocks = blocks_of(body)
        for before, after in zip(blocks, blocks[1:]):
            if before.startswith(("#", "- ")) or after.startswith(("#", "- ")):
                continue  # a heading or a list between them: not one paragraph
            before, after = before.lstrip("> "), after.lstrip("> ")
            cut = not before.endswith(TERMINAL) and after[:1].islower()
            assert not cut, f"{path.name}: paragraph cut at a page break: ...{before[-50:]!r} / {after[:50]!r}"


@pytest.mark.parametrize("pid,passage", KNOWN_JOINS)
def test_known_page_break_is_joined(parts, pid, passage):
    body = parts[pid][2]
    assert any(passage in p for p in paragraphs_of(body)), f"{pid}: not in one paragraph: {passage!r}"


def test_quotation_missing_its_opening_mark_is_repaired(parts):
    # the export drops the opening quotation mark of Xenia's first paragraph
    assert paragraphs_of(parts["xenia"][2])[0].startswith('"It\'s hard to chat. I\'m terrible at chatting')


def test_no_markup_debris_left(parts):
    for _pid, (path, _, body) in parts.items():
        text = path.read_text(encoding="utf-8")
        for debris in ("**", "\\*", "](#)", "](", "Image source", "<http", "\\_", "*"):
            assert debris not in text, f"{path.name} still contains {debris!r}"
        assert not re.search(r"^\s*[*_]", body, re.M), path.name


def test_switchback_keeps_its_figures(parts):
    body = parts["switchback"][2]
    assert "8%" in body and "49%" in body
    assert "For Switchback trainees this figure is 8%, compared to a national average of 49%." in body


@pytest.mark.parametrize("pid", STORY_IDS)
def test_story_sections_match_the_source_headings(parts, pid):
    assert headings_of(parts[pid][2], 2) == EXPECTED_SECTIONS[pid]


@pytest.mark.parametrize("pid", STORY_IDS)
def test_story_ends_with_one_questions_section(parts, pid):
    body = parts[pid][2]
    assert body.count(f"## {QUESTIONS}\n") == 1
    assert headings_of(body, 2)[-1] == QUESTIONS
    assert headings_of(body, 3) == ["Digging deeper", "Applying the learning"]
    digging, applying, rest = questions_section(body)
    assert digging and applying and not rest.strip()
    # "At the end of each story you'll find a series of five prompt questions"
    assert len(digging) + len(applying) == 5
    assert all(q.endswith("?") for q in digging + applying)


def test_stranded_questions_go_to_the_story_they_belong_to(parts):
    # the export prints Poppy's questions in the middle of MAIA; Poppy's has none of its own
    poppys = " ".join(sum(questions_section(parts["poppys"][2])[:2], []))
    maia = " ".join(sum(questions_section(parts["maia"][2])[:2], []))
    assert "concentric rings of support" in poppys and "good customer service" in poppys
    assert "concentric rings" not in maia and "physical space" in maia
    assert "MAIA grew out of relationships between artists" in parts["maia"][2]


def test_heading_levels_are_normalised(parts):
    for pid, (path, _, body) in parts.items():
        assert not re.search(r"^(#|#{4,}) ", body, re.M), f"{path.name}: only ## and ### headings"
        levels = [len(m) for m in re.findall(r"^(#{2,3}) ", body, re.M)]
        assert not levels or levels[0] == 2, f"{path.name}: the first heading is a ## section"
        for heading in headings_of(body, 2) + headings_of(body, 3):
            letters = [c for c in heading if c.isalpha()]
            assert any(c.islower() for c in letters) or len(letters) <= 4, f"{path.name}: all-caps {heading!r}"
            assert len(heading.split()) <= 20 and not heading.endswith(":"), f"{path.name}: {heading!r}"
        if pid in STORY_IDS:  # in a story, ### only inside the Questions section
            assert body.index("### ") > body.index(f"## {QUESTIONS}")


def test_all_caps_headings_become_sentence_case(parts):
    intro = parts["introduction"][2]
    assert "## Welcome to the Case Maker" in intro
    assert "## If you want to change the world, start with relationships" in intro
    assert "## The impact of investing in relationships" in intro
    assert "## A note on these stories" in intro
    summary = parts["summary"][2]
    assert headings_of(summary, 2)[0] == "A growing field"
    assert "## Our story and your story" in summary and "## Outcomes that matter" in summary


def test_pull_quotes(parts):
    gateshead = blocks_of(parts["gateshead-bridgebuilders"][2])
    # a long "### ..." heading is a pull quote
    assert "> Bridgebuilders have the time and freedom to nurture and expand their network of local relationships." \
        in gateshead
    # a whole bold paragraph is a pull quote
    assert "> In everything they do, Grapevine start with relationships rather than fixes." \
        in blocks_of(parts["grapevine"][2])
    nhs = blocks_of(parts["nhs-palliative-care"][2])
    assert any(b.startswith("> What might it mean to put relationships first in a sprawling system") for b in nhs)
    # a bold lead-in ending with ':' stays a paragraph before its list
    assert "There are three distinctions to be made:" in blocks_of(parts["introduction"][2])
    for pid, (_, _, body) in parts.items():
        for b in blocks_of(body):
            if b.startswith(">"):
                assert "\n" not in b, f"{pid}: a pull quote is one paragraph"


def test_notes_are_plain_final_paragraphs(parts):
    for pid, note in [("switchback", "Note: some names in this story have been changed."),
                      ("grapevine", "Note: Identifying details have been changed")]:
        body = parts[pid][2]
        story = body.partition(f"## {QUESTIONS}")[0]
        assert paragraphs_of(story)[-1].startswith(note)


def test_links_keep_their_text(parts):
    intro = parts["introduction"][2]
    assert "leads the Harvard Study of Adult Development, the largest" in intro
    assert "Julianne Holt-Lunstad (2010), for example," in intro
    assert "(Holt-Lunstad et al, 2010)" in intro
    assert "co-founder of Switchback." in parts["switchback"][2]
    assert "@Rships_Project" in parts["summary"][2]


def test_introduction_skips_the_boilerplate_and_ends_before_the_stories(parts):
    intro = parts["introduction"][2]
    assert blocks_of(intro)[0] == "## Welcome to the Case Maker"
    for boiler in ("ISBN", "Acknowledg", "Publication date", "Contents", "| p.", "Relationship-centred practice in action"):
        assert boiler not in intro
    assert "Life expectancy: 148 studies" in intro  # the statistics, with their labels repaired
    assert paragraphs_of(intro)[-1].startswith("For those who prefer listening to reading")
    assert "Coventry" not in intro


def test_summary_runs_from_a_growing_field_to_the_end(parts):
    summary = parts["summary"][2]
    assert blocks_of(summary)[0] == "## A growing field"
    assert "## Things you can do" in summary and "### Join the Map" in summary
    assert "- Ubuntu Leaders Academy, Portugal and beyond: “The Ubuntu concept" in summary
    nhs = parts["nhs-palliative-care"][2]
    assert "A growing field" not in nhs and "Mother Teresa" not in nhs


def test_reimport_is_stable_and_leaves_no_temporary_files(parts, tmp_path):
    again = import_manuscript(SOURCE, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in again]
    for path in again:
        pid = path.name[3:-3]
        assert path.read_text(encoding="utf-8") == parts[pid][0].read_text(encoding="utf-8")


# ---------------------------------------------------------------------------- synthetic manuscripts


@pytest.mark.parametrize("before,after", [
    ("Do you send meals round? Or work with the young people", "so they leave them alone?"),
    ("Their family’,", "they arrange ‘family time’."),
    ("she says, “not having ‘do this on a", "Thursday’ or that.”"),
    ("The deprioritisation of relational work in the", "NHS is, in part, structural."),
    ("She said, “we will meet again in London", "Tomorrow maybe,” she said."),
    ("We've missed very few sessions;", "we've missed ones on Christmas day."),
])
def test_should_join_page_breaks(before, after):
    assert should_join(before, after)


@pytest.mark.parametrize("before,after", [
    ("A finished sentence.", "and a lower-case start"),
    ("A question?", "maybe"),
    ("He said: ‘this is it.’", "Next thing"),
    ("A heading-like line with no stop", "Another one starting upper case"),
    ("– Professor Robert Waldinger", "Good relationships are good for us."),
])
def test_should_not_join(before, after):
    assert not should_join(before, after)


def test_join_broken_paragraphs():
    paras = ["It was the end of the", "day and the start of a long-", "term plan.", "A new paragraph.", "lower case"]
    assert join_broken_paragraphs(paras) == [
        "It was the end of the day and the start of a long-term plan.", "A new paragraph.", "lower case",
    ]


def test_sentence_case_and_slugify():
    assert sentence_case("QUESTIONS FOR REFLECTION") == "Questions for reflection"
    assert sentence_case("IF YOU WANT TO CHANGE THE WORLD, START WITH RELATIONSHIPS") == \
        "If you want to change the world, start with relationships"
    assert sentence_case("Already Mixed Case") == "Already Mixed Case"
    assert slugify("Poppy's") == "poppys"
    assert slugify("Jean’s Bothy, Helensburgh") == "jeans-bothy-helensburgh"
    assert slugify("Make/Shift") == "make-shift"


TINY = """\
# Tiny Book

# Contents

## Set Up

02

What the tiny book is for

# WELCOME TO THE BOOK CLUB

Everyone at the Book Club reads together. The Book Club meets weekly.

#### DEEP HEADING

More introduction.

# STORIES

## Alpha Story

*A tagline for alpha\\**

Alpha opens here and the sentence runs on to the end of the

page where it continues.

### FIRST SECTION

Text with a [stub link](#), a [real link](https://example.org/x) and **bold** words.

#### Second section

**A bold paragraph that is really a pull quote from the text of the story.**

### This heading is far too long to be a heading because it has so many words in it.

Image source: Somebody

A paragraph cut before an

Image source: Somebody else

image that sat in the middle of it.

**Short bold heading**

Last words of alpha.

*\\*Note: names have been changed*

## QUESTIONS FOR REFLECTION

### DIGGING DEEPER

- Why alpha?

### APPLYING THE LEARNING

- How alpha?

## Beta Story

### QUESTIONS FOR REFLECTION

#### DIGGING DEEPER

- Why beta?

#### APPLYING THE LEARNING

- Where beta?

Beta text sits after a stranded questions block.

## Questions for reflection

### Digging deeper

- Why beta?
- What beta?

### Applying the learning

- Where beta?

# SUMMARY

Closing words.
"""


def test_tiny_manuscript_without_a_featuring_page(tmp_path):
    src = tmp_path / "tiny.md"
    src.write_text(TINY, encoding="utf-8")
    written = import_manuscript(src, tmp_path / "out")
    assert [p.name for p in written] == ["00-introduction.md", "01-alpha-story.md", "02-beta-story.md",
                                         "03-summary.md"]
    intro_meta, intro = split_front_matter(written[0].read_text(encoding="utf-8"))
    assert intro_meta["subtitle"] == "What the tiny book is for" and intro_meta["print_page"] == 2
    # '#' and '##' become '##', deeper levels '###'; all caps become sentence case with the
    # manuscript's own casing of proper nouns
    assert blocks_of(intro) == [
        "## Welcome to the Book Club",
        "Everyone at the Book Club reads together. The Book Club meets weekly.",
        "### Deep heading",
        "More introduction.",
    ]

    meta, alpha = split_front_matter(written[1].read_text(encoding="utf-8"))
    assert meta == {"id": "alpha-story", "title": "Alpha Story", "subtitle": "A tagline for alpha", "order": 1,
                    "published": dt.date(2024, 3, 2)}
    assert blocks_of(alpha) == [
        "Alpha opens here and the sentence runs on to the end of the page where it continues.",
        "## First section",
        "Text with a stub link, a real link and bold words.",
        "## Second section",
        "> A bold paragraph that is really a pull quote from the text of the story.",
        "> This heading is far too long to be a heading because it has so many words in it.",
        "A paragraph cut before an image that sat in the middle of it.",
        "## Short bold heading",
        "Last words of alpha.",
        "Note: names have been changed.",
        "## Questions for reflection",
        "### Digging deeper",
        "- Why alpha?",
        "### Applying the learning",
        "- How alpha?",
    ]

    _, beta = split_front_matter(written[2].read_text(encoding="utf-8"))
    # Alpha has questions of its own, so Beta's stranded block stays with Beta, merged and de-duplicated
    assert blocks_of(beta) == [
        "Beta text sits after a stranded questions block.",
        "## Questions for reflection",
        "### Digging deeper",
        "- Why beta?\n- What beta?",
        "### Applying the learning",
        "- Where beta?",
    ]
    _, summary = split_front_matter(written[3].read_text(encoding="utf-8"))
    assert blocks_of(summary) == ["## Summary", "Closing words."]


FEATURED = """\
# Welcome

Hello, reader.

# FEATURING...

**Gardens** | p.3

*Growing things together*

**The Kitchens** | p. 7

*Cooking for neighbours*

## Gardens

The compost heap and the tomato seedlings brought the allotment neighbours together.

## The Kitchens

### Cooking for neighbours

The soup kitchen fed everyone on the estate.

**QUESTIONS FOR REFLECTION**

**DIGGING DEEPER**

- What did the compost heap and the tomato seedlings do for the allotment?

**APPLYING THE LEARNING**

- Where could tomato seedlings grow near you?

More about the soup kitchen and the estate volunteers.

## Questions for reflection

### Digging deeper

- Who eats at the soup kitchen?

### Applying the learning

- What could your estate cook together?

## AFTERWORD

The end.
"""


def test_featuring_page_and_stranded_questions(tmp_path):
    src = tmp_path / "featured.md"
    src.write_text(FEATURED, encoding="utf-8")
    written = import_manuscript(src, tmp_path / "out")
    assert [p.name for p in written] == ["00-introduction.md", "01-gardens.md", "02-the-kitchens.md",
                                         "03-summary.md"]
    g_meta, gardens = split_front_matter(written[1].read_text(encoding="utf-8"))
    k_meta, kitchens = split_front_matter(written[2].read_text(encoding="utf-8"))
    assert (g_meta["print_page"], g_meta["subtitle"]) == (3, "Growing things together")
    # a heading repeating the featured tagline is the subtitle, not a section
    assert (k_meta["print_page"], k_meta["subtitle"]) == (7, "Cooking for neighbours")
    assert "compost heap and the tomato seedlings do" in questions_section(gardens)[0][0]
    k_digging, k_applying, _ = questions_section(kitchens)
    assert k_digging == ["Who eats at the soup kitchen?"]
    assert k_applying == ["What could your estate cook together?"]
    assert "More about the soup kitchen" in kitchens
    _, summary = split_front_matter(written[3].read_text(encoding="utf-8"))
    assert blocks_of(summary) == ["## Afterword", "The end."]


def test_invalid_utf8_names_file_and_line(tmp_path):
    src = tmp_path / "bad.md"
    src.write_bytes(b"# Title\n\nfine line\nbroken \xff byte\n")
    with pytest.raises(ManuscriptError, match=r"bad\.md:4: not valid UTF-8"):
        import_manuscript(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_no_stories_is_an_error(tmp_path):
    src = tmp_path / "empty.md"
    src.write_text("# A book\n\nJust some text.\n", encoding="utf-8")
    with pytest.raises(ManuscriptError, match=r"empty\.md:1: no stories found"):
        import_manuscript(src, tmp_path / "out")


def test_featured_story_without_a_heading_is_an_error(tmp_path):
    src = tmp_path / "ghost.md"
    src.write_text("# FEATURING...\n\n**Ghost** | p.3\n\n## Other\n\nText.\n", encoding="utf-8")
    with pytest.raises(ManuscriptError, match=r"ghost\.md:3: story 'Ghost' is listed here"):
        import_manuscript(src, tmp_path / "out")


def test_missing_manuscript_is_an_error(tmp_path):
    with pytest.raises(ManuscriptError, match=r"nope\.md:0: cannot read"):
        import_manuscript(tmp_path / "nope.md", tmp_path / "out")


def test_imported_book_parses_into_the_model_with_the_source_sections(parts, tmp_path):
    """The imported parts load through our own source model, and each story's model has the
    sections the source has (the first section is the opening, named after the title)."""
    import shutil

    from pipeline.model.sources import load_book

    texts = tmp_path / "texts"
    texts.mkdir()
    for path, _, _ in parts.values():
        shutil.copy(path, texts / path.name)
    shutil.copy(Path(__file__).resolve().parents[1] / "texts" / "book.toml", texts / "book.toml")
    book = load_book(texts)
    assert len(book.parts) == 11
    for pid in STORY_IDS:
        part = book.part(pid)
        assert [s.title for s in part.sections[1:]] == EXPECTED_SECTIONS[pid], pid
        assert part.sections[-1].is_reflection
        assert len(part.sentences()) > 40
