"""Text normalisation for the aligner's reference voice: the words a narrator says.

``speakable(text, language)`` spells out numbers and symbols the way a narrator reads them, with the
maintained ``num2words`` library doing the number words in the book's language: cardinals (with
thousands separators), decimals, years ("1745" -> "seventeen forty-five"), ordinals ("21st" ->
"twenty-first"), decades ("1990s" -> "nineteen nineties"), money ("£1.2m" -> "one point two million
pounds"), percentages, ranges ("1745–1821" -> "seventeen forty-five to eighteen twenty-one"), clock
times, dates ("6 December" -> "the sixth of December"), degrees, "&" and common abbreviations.
All-capital acronyms (NHS) are left as they are: espeak-ng spells them. For a language num2words does
not know, the digits are left for espeak-ng to read.

``espeak_voice(language)`` names the bundled espeak-ng voice for a BCP 47 tag ("en-GB" -> "en",
"en-US" -> "en-us", "fr-FR" -> "fr"), a name ``espeak_SetVoiceByName`` accepts. Both raise
``UnknownLanguage`` for a tag they cannot use.

Everything language-specific is compiled once per language (cached), so a sentence costs a handful of
precompiled regex passes plus cached num2words calls.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import espeakng_loader
import num2words

__all__ = ["UnknownLanguage", "speakable", "espeak_voice"]


class UnknownLanguage(ValueError):
    """A language tag that is not well-formed BCP 47, or that the bundled espeak-ng has no voice for."""

    def __init__(self, language: object, reason: str = ""):
        self.language = language
        self.reason = reason or "unknown language"
        super().__init__(f"{self.reason}: {language!r}")


# ------------------------------------------------------------------------------------- language tags

_TAG_RE = re.compile(r"^[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*$")
# Deprecated or macro-language codes and the code the tools know them by.
_PRIMARY_ALIASES = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv", "mo": "ro"}
_LATIN_AMERICA = frozenset(
    "ar bo cl co cr cu do ec gt hn mx ni pa pe pr py sv uy ve 419".split())


def _parse_tag(language: object) -> tuple[str, str | None, str | None, list[str]]:
    """(primary, script, region, all subtags), lower case; UnknownLanguage when not BCP 47-shaped."""
    if not isinstance(language, str) or not _TAG_RE.match(language.strip()):
        raise UnknownLanguage(language, "not a BCP 47 language tag")
    parts = language.strip().replace("_", "-").lower().split("-")
    if len(parts[0]) > 3:
        raise UnknownLanguage(language, "not a BCP 47 language tag")
    parts[0] = _PRIMARY_ALIASES.get(parts[0], parts[0])
    script = region = None
    for p in parts[1:]:
        if len(p) == 4 and p.isalpha() and script is None and region is None:
            script = p
        elif (len(p) == 2 and p.isalpha()) or (len(p) == 3 and p.isdigit()):
            region = p
            break
        else:
            break
    return parts[0], script, region, parts


# ----------------------------------------------------------------------------------- espeak voices


@functools.lru_cache(maxsize=1)
def _espeak_languages() -> dict[str, str]:
    """Every language tag a bundled espeak-ng voice declares -> the name of its best voice.

    Read from the voice files in ``espeak-ng-data/lang`` (what ``espeak_ListVoices`` lists), without
    initialising the library: the aligner initialises it once per process and a second
    initialisation corrupts it. A voice whose dictionary is not bundled is skipped. For each tag the
    voice with the lowest priority number wins (espeak-ng's own order), then the one named after it.
    The name is the voice file's name in lower case, which ``espeak_SetVoiceByName`` accepts."""
    data = Path(espeakng_loader.get_data_path())
    best: dict[str, tuple[int, int, str]] = {}
    for path in sorted((data / "lang").rglob("*")):
        if not path.is_file():
            continue
        langs: list[tuple[str, int]] = []
        dictionary = None
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] == "language":
                priority = int(words[2]) if len(words) > 2 and words[2].isdigit() else 5
                langs.append((words[1].lower(), priority))
            elif len(words) >= 2 and words[0] == "dictionary":
                dictionary = words[1]
        if not langs:
            continue
        if not (data / f"{dictionary or langs[0][0].split('-')[0]}_dict").is_file():
            continue
        name = path.name.lower()
        for tag, priority in langs:
            key = (priority, 0 if name == tag else 1, name)
            if tag not in best or key < best[tag]:
                best[tag] = key
    return {tag: key[2] for tag, key in best.items()}


def espeak_voice(language: str) -> str:
    """The bundled espeak-ng voice for a BCP 47 tag, as ``espeak_SetVoiceByName`` takes it.

    The most specific declared tag wins ("en-US" -> "en-us", "pt-BR" -> "pt-br"), then the tag
    without its last subtag ("en-AU" -> "en", British English; "fr-CA" -> "fr"). Latin-American
    Spanish goes to "es-419", Hong Kong and Macau Chinese to Cantonese, Nynorsk to Bokmål.
    Raises UnknownLanguage when no bundled voice speaks the language."""
    primary, script, region, parts = _parse_tag(language)
    table = _espeak_languages()
    candidates = ["-".join(parts[:i]) for i in range(len(parts), 0, -1)]
    if primary == "es" and region in _LATIN_AMERICA:
        candidates.insert(-1, "es-419")
    if primary == "zh" and (region in ("hk", "mo") or parts[1:2] == ["yue"]):
        candidates.insert(-1, "yue")
    if primary == "nn":
        candidates.append("nb")  # Nynorsk: the Norwegian (Bokmål) voice is the nearest
    for tag in candidates:
        if tag in table:
            return table[tag]
    raise UnknownLanguage(language, "no espeak-ng voice for language")


# ------------------------------------------------------------------------------ per-language words

# and, range ("to"), per cent, decimal point, degrees; None: leave the symbol for espeak-ng.
_WORDS: dict[str, dict[str, str]] = {
    "en": {"and": "and", "to": "to", "percent": "per cent", "point": "point", "degrees": "degrees"},
    "de": {"and": "und", "to": "bis", "percent": "Prozent", "point": "Komma", "degrees": "Grad"},
    "fr": {"and": "et", "to": "à", "percent": "pour cent", "point": "virgule", "degrees": "degrés"},
    "es": {"and": "y", "to": "a", "percent": "por ciento", "point": "coma", "degrees": "grados"},
    "it": {"and": "e", "to": "a", "percent": "per cento", "point": "virgola", "degrees": "gradi"},
    "pt": {"and": "e", "to": "a", "percent": "por cento", "point": "vírgula", "degrees": "graus"},
    "nl": {"and": "en", "to": "tot", "percent": "procent", "point": "komma", "degrees": "graden"},
    "ca": {"and": "i", "to": "a", "percent": "per cent", "point": "coma", "degrees": "graus"},
    "sv": {"and": "och", "to": "till", "percent": "procent", "point": "komma", "degrees": "grader"},
    "da": {"and": "og", "to": "til", "percent": "procent", "point": "komma", "degrees": "grader"},
    "no": {"and": "og", "to": "til", "percent": "prosent", "point": "komma", "degrees": "grader"},
    "fi": {"and": "ja", "percent": "prosenttia", "point": "pilkku"},
    "pl": {"and": "i"},
    "cs": {"and": "a"},
    "ru": {"and": "и"},
    "uk": {"and": "і"},
}
# Languages whose decimals after the mark are read as a number ("3,25" -> "trois virgule vingt-cinq").
_FRACTION_AS_NUMBER = frozenset({"fr", "es", "it", "pt", "ca"})
# Languages that write 1.234,5 (or 1 234,5); the rest write 1,234.5.
_COMMA_DECIMAL = frozenset(
    "de fr es it pt nl ca sv da no nb nn fi pl cs sk sl ru uk be lt lv et ro hu tr id is az kk kz "
    "sr hr bs bg el vi tg ce eo".split())
# num2words' to='year' reads years as people do here ("seventeen forty-five", "siebzehnhundert…");
# elsewhere it is the cardinal, or odd (Japanese era names), so years are read as cardinals.
_YEAR_LANGS = frozenset({"en", "de", "nl", "da", "no"})
_N2W_ALIASES = {"nb": "no", "nn": "no", "kk": "kz"}
# num2words 0.5.14's Amharic never returns for some numbers (10142502): its digits go to espeak-ng.
_N2W_UNUSABLE = frozenset({"am"})

_SYMBOLS = {"£": "GBP", "$": "USD", "€": "EUR", "¥": "JPY", "₹": "INR"}
_EN_CURRENCY = {
    "GBP": ("pound", "pounds", "penny", "pence"),
    "USD": ("dollar", "dollars", "cent", "cents"),
    "EUR": ("euro", "euros", "cent", "cents"),
    "JPY": ("yen", "yen", None, None),
    "INR": ("rupee", "rupees", "paisa", "paise"),
}
# Scale words and abbreviations after an amount -> power of ten, per language (English ones everywhere).
_SCALES_EN = {"k": 3, "thousand": 3, "m": 6, "mn": 6, "million": 6, "bn": 9, "b": 9, "billion": 9,
              "tn": 12, "trillion": 12}
_SCALES = {
    "de": {"tsd.": 3, "tsd": 3, "tausend": 3, "mio.": 6, "mio": 6, "million": 6, "millionen": 6,
           "mrd.": 9, "mrd": 9, "milliarde": 9, "milliarden": 9, "billion": 12, "billionen": 12},
    "fr": {"mille": 3, "million": 6, "millions": 6, "md": 9, "mds": 9, "mrd": 9, "milliard": 9,
           "milliards": 9},
    "es": {"mil": 3, "millón": 6, "millones": 6},
    "it": {"mila": 3, "mln": 6, "milione": 6, "milioni": 6, "mld": 9, "miliardo": 9, "miliardi": 9},
    "pt": {"mil": 3, "milhão": 6, "milhões": 6, "mi": 6, "bi": 9},
    "nl": {"duizend": 3, "mln": 6, "miljoen": 6, "mld": 9, "miljard": 9},
}
# How an amount in millions and more is said: (singular, plural) per power, and the word joining it
# to the currency ("1,2 millones de euros").
_SCALE_WORDS = {
    "en": ({6: ("million", "million"), 9: ("billion", "billion"), 12: ("trillion", "trillion")}, ""),
    "de": ({6: ("Million", "Millionen"), 9: ("Milliarde", "Milliarden"), 12: ("Billion", "Billionen")}, ""),
    "fr": ({6: ("million", "millions"), 9: ("milliard", "milliards")}, "de"),
    "es": ({6: ("millón", "millones"), 9: ("mil millones", "mil millones")}, "de"),
    "it": ({6: ("milione", "milioni"), 9: ("miliardo", "miliardi")}, "di"),
    "pt": ({6: ("milhão", "milhões")}, "de"),
    "nl": ({6: ("miljoen", "miljoen"), 9: ("miljard", "miljard")}, ""),
}
_MONTHS_EN = "January|February|March|April|May|June|July|August|September|October|November|December"
_MONTHS_DE = ("Januar|Jänner|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|"
              "Dezember|Jahrhundert|Jahrhunderts|Jahrtausend|Jahrtausends")

_UPPER = "A-ZÀ-ÖØ-Þ"
# (pattern, replacement) per language; an abbreviation's full stop that also ends the text is kept.
_ABBREVIATIONS: dict[str, list[tuple[str, str]]] = {
    "en": [
        (rf"\bDr\.?(?=\s+[{_UPPER}])", "Doctor"),
        (rf"\bMrs\.?(?=\s+[{_UPPER}])", "Missus"),
        (rf"\bMr\.?(?=\s+[{_UPPER}])", "Mister"),
        (rf"\bMs\.?(?=\s+[{_UPPER}])", "Miz"),
        (rf"\bProf\.?(?=\s+[{_UPPER}])", "Professor"),
        (rf"\bSt\.?(?=\s+[{_UPPER}])", "Saint"),
        (rf"\bMt\.?(?=\s+[{_UPPER}])", "Mount"),
        (r"(?<=[a-z] )St\b", "Street"),
        (r"\be\.\s?g\.", "for example"),
        (r"\bi\.\s?e\.", "that is"),
        (r"\betc\b\.?", "et cetera"),
        (r"\bvs\b\.?", "versus"),
        (r"\b[Nn]os\.\s?(?=[0-9])", "numbers "),
        (r"\b[Nn]o\.\s?(?=[0-9])", "number "),
        (r"#(?=[0-9])", "number "),
        (r"\bapprox\.", "approximately"),
        (r"\bc(?:a)?\.\s?(?=[0-9]{3,4}\b)", "circa "),
    ],
    "de": [
        (r"\bz\.\s?B\.", "zum Beispiel"),
        (r"\bd\.\s?h\.", "das heißt"),
        (r"\bu\.\s?a\.", "unter anderem"),
        (r"\bv\.\s?a\.", "vor allem"),
        (r"\bz\.\s?T\.", "zum Teil"),
        (r"\busw\.", "und so weiter"),
        (r"\bbzw\.", "beziehungsweise"),
        (r"\bevtl\.", "eventuell"),
        (r"\bggf\.", "gegebenenfalls"),
        (r"\bca\.", "circa"),
        (r"\bNr\.\s?(?=[0-9])", "Nummer "),
        (r"\bDr\.(?=\s)", "Doktor"),
        (r"\bProf\.(?=\s)", "Professor"),
        (r"\bStr\.", "Straße"),
    ],
    "fr": [
        (rf"\bM\.(?=\s+[{_UPPER}])", "Monsieur"),
        (r"\bMM\.(?=\s)", "Messieurs"),
        (r"\bMmes\b\.?", "Mesdames"),
        (r"\bMme\b\.?", "Madame"),
        (r"\bMlle\b\.?", "Mademoiselle"),
        (rf"\bDr\b\.?(?=\s+[{_UPPER}])", "Docteur"),
        (rf"\bSte\b\.?(?=[\s-]+[{_UPPER}])", "Sainte"),
        (rf"\bSt\b\.?(?=[\s-]+[{_UPPER}])", "Saint"),
        (r"\betc\b\.?", "et cetera"),
        (r"\bp\.\s?ex\.", "par exemple"),
        (r"\bc\.-à-d\.", "c'est-à-dire"),
        (r"\b[Nn](?:°|o\b\.?)\s?(?=[0-9])", "numéro "),
    ],
    "es": [
        (rf"\bSra\.(?=\s+[{_UPPER}])", "señora"),
        (rf"\bSr\.(?=\s+[{_UPPER}])", "señor"),
        (rf"\bDra\.(?=\s+[{_UPPER}])", "doctora"),
        (rf"\bDr\.(?=\s+[{_UPPER}])", "doctor"),
        (r"\betc\b\.?", "etcétera"),
        (r"\bp\.\s?ej\.", "por ejemplo"),
        (r"\b[Nn]\.?\s?º\s?(?=[0-9])", "número "),
    ],
    "it": [
        (rf"\bSig\.(?=\s+[{_UPPER}])", "signor"),
        (rf"\bSig\.ra(?=\s+[{_UPPER}])", "signora"),
        (rf"\bDott\.(?=\s+[{_UPPER}])", "dottor"),
        (r"\becc\.", "eccetera"),
        (r"\bn\.\s?(?=[0-9])", "numero "),
    ],
    "pt": [
        (rf"\bSr\.(?=\s+[{_UPPER}])", "senhor"),
        (rf"\bSra\.(?=\s+[{_UPPER}])", "senhora"),
        (r"\betc\b\.?", "etcétera"),
    ],
    "nl": [
        (r"\bbijv\.", "bijvoorbeeld"),
        (r"\bd\.\s?w\.\s?z\.", "dat wil zeggen"),
        (r"\benz\.", "enzovoort"),
    ],
}

_CLEAN_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?)\]])")
_AFTER_OPEN = re.compile(r"([(\[])\s+")
_DOUBLE_COMMA = re.compile(r",(?:\s*,)+")
_SPACED_DASH = re.compile(r"\s+[-–—]+\s+|\s*—\s*")
_LETTER_DIGIT = re.compile(r"(?<=[^\W\d_])(?=[0-9])|(?<=[0-9])(?=[^\W\d_])")
_HAS_DIGIT = re.compile(r"[0-9]")
# Longer numbers are read digit by digit (an identifier, not a quantity; some of num2words' languages
# never finish converting numbers this large).
_MAX_DIGITS = 15
_LARGEST = 10 ** _MAX_DIGITS


_LITERAL_PREFIX = re.compile(r"(?:\\b|\(\?<[=!][^)]*\))?((?:[A-Za-z#]|\\\.)+)")


def _literal_prefix(pattern: str) -> str | None:
    """The text every match of ``pattern`` starts with (r"\\bDr\\.?" -> "Dr"), or None."""
    m = _LITERAL_PREFIX.match(pattern)
    if not m:
        return None
    text = m.group(1).replace("\\.", ".")
    # a quantifier after the last character makes that character optional
    if pattern[m.end():m.end() + 1] in ("?", "*", "{"):
        text = text[:-1]
    return text or None


def _end_keeping(repl: str) -> Callable[[re.Match], str]:
    """A replacement for an abbreviation that keeps its full stop when it ends the text."""
    def sub(m: re.Match) -> str:
        if m.group(0).endswith(".") and m.end() == len(m.string) and not repl.endswith(" "):
            return repl + "."
        return repl
    return sub


def _english_unit(one: str, many: str) -> Callable[[int], str]:
    """The English word for n of a currency's unit or subunit ('pound' for 1, else 'pounds')."""
    def word(n: int) -> str:
        return one if n == 1 else many
    return word


def _pluralised(conv: Any, form: Any) -> Callable[[int], str]:
    """The word for n of a currency's unit or subunit by num2words' converter (its form for the unit)."""
    def word(n: int) -> str:
        return conv.pluralize(n, form)
    return word


class _Normaliser:
    """Everything one language needs, compiled once."""

    def __init__(self, language: str):
        primary, _script, region, _parts = _parse_tag(language)
        self.primary = primary
        self.english = primary == "en"
        self.us = self.english and region == "us"
        self.conv = None
        self.n2w = None
        self._cache: dict[tuple[str, int], str] = {}
        self._ordinal_cache: dict[int, str | None] = {}
        classes = num2words.CONVERTER_CLASSES
        for code in ([f"{primary}_{region.upper()}"] if region else []) + [_N2W_ALIASES.get(primary, primary)]:
            if code in classes and code not in _N2W_UNUSABLE:
                self.n2w, self.conv = code, classes[code]
                break
        base = self.n2w.split("_")[0] if self.n2w else primary
        self.base = base
        words = _WORDS.get(base, {})
        self.and_word = words.get("and")
        self.to_word = words.get("to")
        self.percent_word = ("percent" if self.us else words.get("percent"))
        self.point_word = words.get("point")
        self.degrees_word = words.get("degrees")
        self.years = base in _YEAR_LANGS
        self.fraction_as_number = base in _FRACTION_AS_NUMBER
        self.comma_decimal = base in _COMMA_DECIMAL or primary in _COMMA_DECIMAL
        scales = dict(_SCALES_EN)
        scales.update(_SCALES.get(base, {}))
        self.scales = scales
        self.scale_words, self.scale_join = _SCALE_WORDS.get(base, ({}, ""))
        self.currency = self._currency_table()
        self._compile()

    # ------------------------------------------------------------------------------- compile

    def _currency_table(self) -> dict[str, tuple[Callable[[int], str], Callable[[int], str] | None]]:
        """Currency code -> (unit word for n, subunit word for n) in this language, where known."""
        if self.conv is None:
            return {}
        if self.english:
            return {code: (_english_unit(one, many),
                           _english_unit(sub_one, sub_many) if sub_one and sub_many else None)
                    for code, (one, many, sub_one, sub_many) in _EN_CURRENCY.items()}
        owner = next((k for k in type(self.conv).__mro__ if "CURRENCY_FORMS" in k.__dict__), None)
        if owner is None or owner.__name__ in ("Num2Word_Base", "Num2Word_EU", "Num2Word_EN"):
            return {}  # English names inherited from the base class: let espeak-ng read the symbol
        table: dict[str, tuple[Callable[[int], str], Callable[[int], str] | None]] = {}
        for code in set(_SYMBOLS.values()):
            forms = self.conv.CURRENCY_FORMS.get(code)
            if not forms:
                continue
            try:
                self.conv.pluralize(2, forms[0])
            except Exception:
                continue
            table[code] = (_pluralised(self.conv, forms[0]),
                           _pluralised(self.conv, forms[1]) if len(forms) > 1 else None)
        return table

    def _compile(self) -> None:
        if self.comma_decimal:
            groups = "[.\u00a0\u202f\u2009 ]" if self.base == "fr" else "[.\u00a0\u202f\u2009]"
            num = rf"(?:[0-9]{{1,3}}(?:{groups}[0-9]{{3}}){{1,6}}|[0-9]+)(?:,[0-9]+)?"
        else:
            num = r"(?:[0-9]{1,3}(?:,[0-9]{3}){1,6}|[0-9]+)(?:\.[0-9]+)?"
        # (at most six groups of thousands: each match attempt stays short, so a pass is linear in the text)
        to = rf"|\s{re.escape(self.to_word)}\s" if self.to_word else ""
        rng = rf"(?:\s?[-–—]\s?{to})"
        sym = "(?:" + "|".join(re.escape(s) for s in _SYMBOLS) + ")"
        scale = "(?:" + "|".join(re.escape(s) for s in sorted(self.scales, key=len, reverse=True)) + ")"
        flags = re.IGNORECASE

        # Each abbreviation's pattern runs only when its leading literal text is in the sentence.
        self.abbreviations = [(re.compile(p), _end_keeping(r), _literal_prefix(p))
                              for p, r in _ABBREVIATIONS.get(self.base, [])]

        # Each pass runs only when the text has one of its trigger strings (None: always).
        passes: list[tuple[re.Pattern, Callable[[re.Match], str], tuple[str, ...] | None]] = []

        def add(pattern: str, repl: Callable[[re.Match], str], triggers: str | tuple[str, ...] | None,
                flags: int = 0) -> None:
            passes.append((re.compile(pattern, flags), repl, tuple(triggers) if triggers else None))

        symbols = tuple(_SYMBOLS)
        dashes = ("-", "–", "—") + ((f" {self.to_word} ",) if self.to_word else ())
        # Clock times, before decimals take "3.30".
        if self.english:
            add(r"(?<![0-9.:,])(?P<h>[0-9]{1,2})(?:[:.](?P<m>[0-5][0-9]))?\s?(?P<ap>[AaPp])\.?\s?[Mm]\b\.?",
                self._time_ampm, "mM")
        elif self.base == "de":
            add(r"(?<![0-9.:,])(?P<h>[0-2]?[0-9])(?:[:.](?P<m>[0-5][0-9]))?\s?Uhr\b", self._time, ("Uhr",))
        elif self.base == "fr":
            add(r"(?<![0-9.:,])(?P<h>[0-2]?[0-9])\s?h\s?(?P<m>[0-5][0-9])?\b", self._time, "h")
        add(r"(?<![0-9.:,])(?P<h>[0-2]?[0-9]):(?P<m>[0-5][0-9])(?![0-9:])", self._time, ":")
        # Money: symbol before ("£1.2m", "£5–£10") or after ("30 €", "1,5 Mio. €"), and pence.
        add(rf"(?P<sym>{sym})\s?(?P<a>{num})(?:{rng}(?:{sym})?\s?(?P<b>{num}))?"
            rf"(?:\s?(?P<scale>{scale})(?![\w]))?(?![\w])", self._money, symbols, flags)
        add(rf"(?<![\w.,])(?P<a>{num})(?:{rng}(?P<b>{num}))?(?:\s?(?P<scale>{scale}))?\s?(?P<sym>{sym})",
            self._money, symbols, flags)
        if self.english:
            add(r"(?<![\w.,£])(?P<a>[0-9]+)p\b", self._pence, "p")
        # Percentages and degrees.
        add(rf"(?<![\w.,])(?P<a>{num})(?:{rng}(?P<b>{num}))?\s?%", self._percent, "%")
        if self.degrees_word:
            add(rf"(?<![\w.,])(?P<a>-?{num})\s?°\s?(?P<u>[CF]\b)?", self._degrees, "°")
        # Dates: "6 December" -> "the sixth of December", "December 6" -> "December sixth", ISO dates.
        if self.english:
            add(r"(?<![\w.,-])(?P<y>[12][0-9]{3})-(?P<mo>[01][0-9])-(?P<d>[0-3][0-9])(?![\w-])",
                self._date_iso, "-")
            months = tuple(_MONTHS_EN.split("|"))
            add(rf"(?<![\w.,])(?<![0-9][-–])(?P<d>[0-9]{{1,2}})(?:st|nd|rd|th)?\s(?P<mo>{_MONTHS_EN})\b",
                self._date_day_month, months)
            add(rf"\b(?P<mo>{_MONTHS_EN})\s(?P<d>[0-9]{{1,2}})(?:st|nd|rd|th)?\b(?![0-9:.,][0-9]|[-–])",
                self._date_month_day, months)
        # Decades.
        if self.english:
            add(r"(?<![\w'’])(?:(?P<full>[1-9][0-9]{2}0)|['’]?(?P<short>[0-9]0))['’]?s\b", self._decade_en, "s")
        elif self.base == "de":
            add(r"(?<![\w.,])(?P<n>[1-9][0-9]{0,2}0)er\b", self._decade_de, ("er",))
        # Ordinals.
        if self.english:
            add(r"(?<![\w.,])(?P<n>[0-9]{1,3}(?:,[0-9]{3}){0,6}|[0-9]+)(?:st|nd|rd|th)\b", self._ordinal,
                "sSnNrRtT", flags)
        elif self.base == "fr":
            add(r"(?<![\w.,])(?P<n>[0-9]+)(?P<s>ers?|res?|ères?|es?|èmes?|emes?)\b", self._ordinal_fr, "eè")
        elif self.base == "de":
            add(rf"(?<![\w.,])(?P<n>[0-9]{{1,2}})\.\s(?=(?:{_MONTHS_DE})\b)", self._ordinal_de, ".")
        elif self.base in ("es", "it", "pt", "ca"):
            add(r"(?<![\w.,])(?P<n>[0-9]+)\.?(?P<s>[ºª°])", self._ordinal_romance, "ºª°")
        elif self.base == "nl":
            add(r"(?<![\w.,])(?P<n>[0-9]+)(?:e|ste|de)\b", self._ordinal, "e")
        # Ranges of plain numbers (a date's or a phone number's dashes are left alone).
        add(rf"(?<![0-9.,])(?<![0-9][-–])(?P<a>{num})\s?[-–—]\s?(?P<b>{num})(?![0-9]|[-–][0-9])", self._range,
            dashes)
        # A minus sign at the start of a word.
        add(r"(?<![^\s(])[-−](?=[0-9])", self._minus, "-−")
        self.number_passes = passes
        self.number_token = re.compile(rf"(?<![0-9]){num}")
        self.ampersand = re.compile(r"\s*&\s*") if self.and_word else None

    # ------------------------------------------------------------------------------- words

    def _clean(self, words: str) -> str:
        return " ".join(words.replace(",", " ").split())

    def _cardinal(self, n: int) -> str:
        if n >= _LARGEST:
            return self._digits(str(n))
        key = ("c", n)
        if key not in self._cache:
            if self.conv is None:  # no number words in this language: the digits, for espeak-ng
                self._cache[key] = str(n)
            else:
                try:
                    self._cache[key] = self._clean(self.conv.to_cardinal(n))
                except Exception:
                    self._cache[key] = str(n)
        return self._cache[key]

    def _year(self, n: int) -> str:
        if not self.years or self.conv is None:
            return self._cardinal(n)
        key = ("y", n)
        if key not in self._cache:
            try:
                words = self._clean(self.conv.to_year(n))
                if self.english:
                    words = words.replace("oh-", "oh ")
                self._cache[key] = words
            except Exception:
                self._cache[key] = self._cardinal(n)
        return self._cache[key]

    def _ordinal_words(self, n: int) -> str | None:
        if n >= _LARGEST:
            return None
        if self.conv is None:
            return None
        if n not in self._ordinal_cache:
            try:
                self._ordinal_cache[n] = self._clean(self.conv.to_ordinal(n))
            except Exception:
                self._ordinal_cache[n] = None
        return self._ordinal_cache[n]

    def _split(self, s: str) -> tuple[str, str | None, bool]:
        """'1,234.5' -> ('1234', '5', grouped)."""
        mark = "," if self.comma_decimal else "."
        whole, sep, frac = s.partition(mark)
        digits = re.sub(r"[^0-9]", "", whole)
        return digits, (frac if sep else None), digits != whole

    def _value(self, s: str) -> Decimal:
        whole, frac, _ = self._split(s)
        return Decimal(f"{whole}.{frac}" if frac else whole)

    def _digits(self, s: str) -> str:
        return " ".join(self._cardinal(int(c)) for c in s)

    def _number(self, s: str, years: bool = True) -> str:
        """A number as read in running text: a year when it looks like one, else a cardinal."""
        whole, frac, grouped = self._split(s)
        if frac is not None:
            return self._decimal(whole, frac)
        if (len(whole) > 1 and whole[0] == "0") or len(whole) > _MAX_DIGITS:
            return self._digits(whole)
        n = int(whole)
        if years and not grouped and len(whole) == 4 and 1100 <= n <= 2099:
            return self._year(n)
        return self._cardinal(n)

    def _decimal(self, whole: str, frac: str) -> str:
        if self.point_word is None and len(whole) <= _MAX_DIGITS and len(frac) <= 6:
            if self.conv is None:
                return f"{self._cardinal(int(whole))} {self._digits(frac)}"
            try:
                return self._clean(self.conv.to_cardinal(Decimal(f"{whole}.{frac}")))
            except Exception:
                return f"{self._cardinal(int(whole))} {self._digits(frac)}"
        if self.point_word is None or len(whole) > _MAX_DIGITS:
            return f"{self._number(whole or '0', years=False)} {self.point_word or ''} {self._digits(frac)}"
        if self.fraction_as_number and frac[0] != "0" and len(frac) <= 3:
            tail = self._cardinal(int(frac))
        else:
            tail = self._digits(frac)
        return f"{self._cardinal(int(whole or 0))} {self.point_word} {tail}"

    def _int(self, digits: str) -> int | None:
        return int(digits) if digits and len(digits) <= _MAX_DIGITS else None

    def _before_noun(self, words: str) -> str:
        """'eins Euro' -> 'ein Euro', 'veintiuno euros' -> 'veintiún euros'."""
        if self.base == "de" and words.endswith("eins"):
            return words[:-1]
        if self.base in ("es", "it") and words.endswith("uno"):
            return words[:-9] + "veintiún" if words.endswith("veintiuno") else words[:-1]
        return words

    # --------------------------------------------------------------------------- pass callbacks

    def _time_ampm(self, m: re.Match) -> str:
        h, mins = int(m.group("h")), m.group("m")
        if h > 12:
            return m.group(0)
        words = self._cardinal(h)
        if mins and mins != "00":
            words += " " + (f"oh {self._cardinal(int(mins))}" if mins[0] == "0" else self._cardinal(int(mins)))
        words += " a m" if m.group("ap").lower() == "a" else " p m"
        if m.group(0).endswith(".") and m.end() == len(m.string):
            words += "."
        return words

    def _time(self, m: re.Match) -> str:
        h, mins = int(m.group("h")), m.group("m")
        if h > 24:
            return m.group(0)
        if self.english:
            if mins == "00":
                return f"{self._cardinal(h)} o'clock" if h <= 12 else f"{self._cardinal(h)} hundred"
            if mins[0] == "0":
                return f"{self._cardinal(h)} oh {self._cardinal(int(mins))}"
            return f"{self._cardinal(h)} {self._cardinal(int(mins))}"
        if self.base == "de":
            words = f"{self._before_noun(self._cardinal(h))} Uhr"
        elif self.base == "fr":
            hour = self._cardinal(h)
            hour = hour[:-2] + "une" if hour.endswith("un") else hour
            words = f"{hour} {'heure' if h <= 1 else 'heures'}"
        else:
            words = self._cardinal(h)
        if mins and mins != "00":
            words += " " + self._cardinal(int(mins))
        return words

    def _money(self, m: re.Match) -> str:
        sym = m.group("sym")
        a, b, scale = m.group("a"), m.group("b"), m.group("scale")
        units = self.currency.get(_SYMBOLS[sym])
        to = self.to_word or "-"
        if scale:
            power = self.scales[scale.lower()]
            words, count = self._scaled(b or a, power)
            if b:
                words = f"{self._scaled(a, power, bare=power in self.scale_words)[0]} {to} {words}"
            if units is None:
                return f"{words} {sym}"
            unit = units[0](count)
            if self.scale_join and power in self.scale_words:
                if self.base == "fr" and unit[:1] in tuple("aeiouhéè"):
                    return f"{words} d'{unit}"
                return f"{words} {self.scale_join} {unit}"
            return f"{words} {unit}"
        if units is None:
            words = self._number(a, years=False)
            if b:
                words += f" {to} {self._number(b, years=False)}"
            return f"{words} {sym}"
        if b:
            low = self._money_amount(a, units, named=self._split(a)[1] is not None)
            return f"{low} {to} {self._money_amount(b, units)}"
        return self._money_amount(a, units)

    def _scaled(self, s: str, power: int, bare: bool = False) -> tuple[str, int]:
        """Words for s × 10**power and the count the currency word agrees with."""
        if len(self._split(s)[0]) > _MAX_DIGITS:
            return self._number(s), 2
        value = self._value(s)
        if power in self.scale_words:
            single, plural = self.scale_words[power]
            one = value == 1 or (self.base == "fr" and value < 2)
            number = self._number(s, years=False)
            if self.base == "de" and value == 1:
                number = "eine"
            elif one and self.base in ("es", "it", "pt", "fr") and value == 1:
                number = {"es": "un", "it": "un", "pt": "um", "fr": "un"}[self.base]
            if bare:
                return number, 10 ** power
            return f"{number} {single if one else plural}", 10 ** power
        total = value * (10 ** power)
        if total == total.to_integral_value():
            return self._cardinal(int(total)), int(total)
        text = format(total.normalize(), "f")
        whole, _, frac = text.partition(".")
        return self._decimal(whole, frac), int(total)

    def _money_amount(self, s: str, units, named: bool = True) -> str:
        whole, frac, _ = self._split(s)
        if len(whole) > _MAX_DIGITS:
            return f"{self._number(s)} {units[0](2)}"
        n = int(whole or 0)
        cents = None
        if frac is not None:
            if len(frac) > 2:
                return f"{self._decimal(whole or '0', frac)} {units[0](2)}"
            cents = int(frac.ljust(2, "0"))
        whole_words = self._before_noun(self._cardinal(n))
        if not cents:
            return f"{whole_words} {units[0](n)}" if named else self._cardinal(n)
        cents_words = self._before_noun(self._cardinal(cents))
        if n == 0 and units[1]:
            return f"{cents_words} {units[1](cents)}"
        if self.english:
            return f"{whole_words} {units[0](n)} {self._cardinal(cents)}"
        if units[1] is None:
            assert frac is not None, "cents are non-zero only when the amount has a fractional part"
            return f"{self._decimal(whole, frac)} {units[0](2)}"
        return f"{whole_words} {units[0](n)} {self.and_word or ''} {cents_words} {units[1](cents)}"

    def _pence(self, m: re.Match) -> str:
        n = self._int(m.group("a"))
        if n is None:
            return m.group(0)
        return f"{self._cardinal(n)} {'penny' if n == 1 else 'pence'}"

    def _percent(self, m: re.Match) -> str:
        words = self._number(m.group("a"), years=False)
        if m.group("b"):
            words += f" {self.to_word or '-'} {self._number(m.group('b'), years=False)}"
        return f"{words} {self.percent_word or '%'}"

    def _degrees(self, m: re.Match) -> str:
        a = m.group("a")
        words = self._number(a.lstrip("-"), years=False)
        if a.startswith("-"):
            words = f"{self._minus_word()} {words}"
        unit = {"C": " Celsius", "F": " Fahrenheit"}.get(m.group("u") or "", "")
        return f"{words} {self.degrees_word}{unit}"

    def _date_day_month(self, m: re.Match) -> str:
        day = int(m.group("d"))
        if not 1 <= day <= 31:
            return m.group(0)
        the = "" if m.string[max(0, m.start() - 4):m.start()].lower() == "the " else "the "
        return f"{the}{self._ordinal_words(day)} of {m.group('mo')}"

    def _date_iso(self, m: re.Match) -> str:
        month, day = int(m.group("mo")), int(m.group("d"))
        if not (1 <= month <= 12 and 1 <= day <= 31):
            return m.group(0)
        name = _MONTHS_EN.split("|")[month - 1]
        year = self._year(int(m.group("y")))
        if self.us:
            return f"{name} {self._ordinal_words(day)}, {year}"
        return f"the {self._ordinal_words(day)} of {name} {year}"

    def _date_month_day(self, m: re.Match) -> str:
        day = int(m.group("d"))
        if not 1 <= day <= 31:
            return m.group(0)
        return f"{m.group('mo')} {self._ordinal_words(day)}"

    def _decade_en(self, m: re.Match) -> str:
        if m.group("full"):
            words = self._year(int(m.group("full")))
        elif m.group("short") == "00":
            return "two thousands" if self.us else "noughties"
        else:
            words = self._cardinal(int(m.group("short")))
        return words[:-1] + "ies" if words.endswith("y") else words + "s"

    def _decade_de(self, m: re.Match) -> str:
        return self._number(m.group("n")) + "er"

    def _ordinal(self, m: re.Match) -> str:
        n = self._int(m.group("n").replace(",", ""))
        words = self._ordinal_words(n) if n is not None else None
        return words if words else m.group(0)

    def _ordinal_fr(self, m: re.Match) -> str:
        n, suffix = self._int(m.group("n")), m.group("s")
        if n is None:
            return m.group(0)
        if n == 1:
            return "première" if suffix.startswith(("r", "è")) else "premier"
        if suffix.startswith(("er", "r")):
            return m.group(0)  # "2er" is not an ordinal
        words = self._ordinal_words(n)
        return words if words else m.group(0)

    def _ordinal_de(self, m: re.Match) -> str:
        words = self._ordinal_words(int(m.group("n")))
        return f"{words}n " if words else m.group(0)  # "am 3. Oktober" -> "am dritten Oktober"

    def _ordinal_romance(self, m: re.Match) -> str:
        n = self._int(m.group("n"))
        words = self._ordinal_words(n) if n is not None else None
        if not words:
            return m.group(0)
        if m.group("s") == "ª" and words.endswith("o"):
            words = " ".join(w[:-1] + "a" if w.endswith("o") else w for w in words.split())
        return words

    def _range(self, m: re.Match) -> str:
        return f"{self._number(m.group('a'))} {self.to_word or '-'} {self._number(m.group('b'))}"

    def _minus_word(self) -> str:
        return (getattr(self.conv, "negword", None) or "minus").strip() or "minus"

    def _minus(self, m: re.Match) -> str:
        return self._minus_word() + " "

    def _token(self, m: re.Match) -> str:
        return self._number(m.group(0))

    # ------------------------------------------------------------------------------- the whole

    def __call__(self, text: str) -> str:
        t = text
        if self.ampersand is not None and "&" in t:
            t = self.ampersand.sub(f" {self.and_word} ", t)
        for pattern, repl, hint in self.abbreviations:
            if hint is None or hint in t:
                t = pattern.sub(repl, t)
        if self.conv is not None and _HAS_DIGIT.search(t):
            for pattern, repl, triggers in self.number_passes:
                if triggers is None or any(x in t for x in triggers):
                    t = pattern.sub(repl, t)
            if _HAS_DIGIT.search(t):
                t = _LETTER_DIGIT.sub(" ", t)
                t = self.number_token.sub(self._token, t)
        t = _SPACED_DASH.sub(", ", t)
        t = t.replace("/", " ")
        t = _CLEAN_SPACES.sub(" ", t)
        t = _SPACE_BEFORE_PUNCT.sub(r"\1", t)
        t = _AFTER_OPEN.sub(r"\1", t)
        t = _DOUBLE_COMMA.sub(",", t)
        return t.strip()


@functools.lru_cache(maxsize=64)
def _normaliser(language: str) -> _Normaliser:
    return _Normaliser(language)


def speakable(text: str, language: str = "en") -> str:
    """The words a narrator says for ``text``, for the reference voice, in ``language`` (BCP 47).

    English without a region is British ("per cent"); "en-US" says "percent". Numbers in a language
    num2words does not know are left as digits for espeak-ng. Raises UnknownLanguage for a tag that
    is not BCP 47-shaped (whether espeak-ng speaks it is ``espeak_voice``'s question)."""
    if not isinstance(language, str):
        raise UnknownLanguage(language, "not a BCP 47 language tag")
    return _normaliser(language)(text)
