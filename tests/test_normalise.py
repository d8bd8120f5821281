"""pipeline.normalise: the words a narrator says, for the aligner's reference voice."""
import subprocess
import sys
import textwrap

import pytest

from pipeline.stages.normalise import UnknownLanguage, espeak_voice, speakable


def say(text, language="en-GB"):
    return speakable(text, language)


# ------------------------------------------------------------------------------------------ English


@pytest.mark.parametrize("language", ["en", "en-GB", "en-US"])
@pytest.mark.parametrize("text, words", [
    # cardinals, with thousands separators, and decimals
    ("aged 90", "aged ninety"),
    ("2,835 women", "two thousand eight hundred and thirty-five women"),
    ("300,000 people", "three hundred thousand people"),
    ("1,234,567", "one million two hundred and thirty-four thousand five hundred and sixty-seven"),
    ("3.14 metres", "three point one four metres"),
    ("0.5", "zero point five"),
    # years
    ("born in 1745.", "born in seventeen forty-five."),
    ("in 2004", "in two thousand and four"),
    ("in 1900", "in nineteen hundred"),
    ("in 1905", "in nineteen oh five"),
    ("in 2018", "in twenty eighteen"),
    # ordinals
    ("1st", "first"), ("21st", "twenty-first"), ("3rd", "third"), ("2nd", "second"), ("100th", "one hundredth"),
    # decades
    ("the 1990s", "the nineteen nineties"),
    ("the 1930s", "the nineteen thirties"),
    ("the 1800s", "the eighteen hundreds"),
    ("the 1990's", "the nineteen nineties"),
    ("the 60s", "the sixties"),
    ("the '60s", "the sixties"),
    ("the ’70s", "the seventies"),
    # money
    ("£1.2m", "one point two million pounds"),
    ("$5", "five dollars"),
    ("€30", "thirty euros"),
    ("£250,000", "two hundred and fifty thousand pounds"),
    ("£3bn", "three billion pounds"),
    ("£3 million", "three million pounds"),
    ("£250k", "two hundred and fifty thousand pounds"),
    ("50p", "fifty pence"),
    ("1p", "one penny"),
    ("£1", "one pound"),
    ("£1.50", "one pound fifty"),
    ("$0.99", "ninety-nine cents"),
    ("£5–£10", "five to ten pounds"),
    ("£5-10m", "five to ten million pounds"),
    ("offers a group £2,000 to spend", "offers a group two thousand pounds to spend"),
    # ranges
    ("1745-1821", "seventeen forty-five to eighteen twenty-one"),
    ("1745–1821", "seventeen forty-five to eighteen twenty-one"),
    ("10-12", "ten to twelve"),
    ("from 30 to 600", "from thirty to six hundred"),
    ("1939-45", "nineteen thirty-nine to forty-five"),
    # times
    ("at 10:30", "at ten thirty"),
    ("at 9:05", "at nine oh five"),
    ("at 10:00", "at ten o'clock"),
    ("at 3pm", "at three p m"),
    ("at 3.30 pm", "at three thirty p m"),
    ("at 10 a.m.", "at ten a m."),
    # dates
    ("on 6 December 2018", "on the sixth of December twenty eighteen"),
    ("on December 6", "on December sixth"),
    # symbols and abbreviations
    ("Barking & Dagenham", "Barking and Dagenham"),
    ("A&E", "A and E"),
    ("Dr Smith", "Doctor Smith"),
    ("Dr. Smith", "Doctor Smith"),
    ("Mr Jones and Mrs Brown", "Mister Jones and Missus Brown"),
    ("St George’s Hospital", "Saint George’s Hospital"),
    ("on Baker St.", "on Baker Street."),
    ("e.g. this", "for example this"),
    ("i.e. that", "that is that"),
    ("apples, pears, etc.", "apples, pears, et cetera."),
    ("Smith vs Jones", "Smith versus Jones"),
    ("Smith vs. Jones", "Smith versus Jones"),
    ("No. 5", "number five"),
    ("No, not that.", "No, not that."),
    ("c. 1500", "circa fifteen hundred"),
    ("It was -5°C.", "It was minus five degrees Celsius."),
    # acronyms stay as they are (espeak-ng spells them); words and digits are kept apart
    ("The NHS and the BBC", "The NHS and the BBC"),
    ("a 3D block party", "a three D block party"),
    ("a 17-year-old", "a seventeen-year-old"),
    ("COVID-19", "COVID-nineteen"),
    ("24/7", "twenty-four seven"),
    ("No numbers here.", "No numbers here."),
])
def test_english(text, words, language):
    assert speakable(text, language) == words


@pytest.mark.parametrize("text, gb, us", [
    ("8%", "eight per cent", "eight percent"),
    ("49% of young men", "forty-nine per cent of young men", "forty-nine percent of young men"),
    ("8.5%", "eight point five per cent", "eight point five percent"),
    ("5-10%", "five to ten per cent", "five to ten percent"),
    ("on 2024-03-11", "on the eleventh of March twenty twenty-four", "on March eleventh, twenty twenty-four"),
])
def test_english_regional(text, gb, us):
    assert speakable(text, "en-GB") == gb
    assert speakable(text, "en") == gb  # the project's English is British
    assert speakable(text, "en-US") == us


def test_english_sentence():
    text = ("Kroenke and colleagues in 2006 followed 2,835 women; 8% were treated at St Mary’s & "
            "the 1990s cost £1.2m.")
    assert say(text) == ("Kroenke and colleagues in two thousand and six followed two thousand eight "
                         "hundred and thirty-five women; eight per cent were treated at Saint Mary’s and "
                         "the nineteen nineties cost one point two million pounds.")


def test_default_language_is_english():
    assert speakable("8%") == "eight per cent"


def test_parenthetical_dash_is_a_pause_not_a_range():
    assert say("It worked – mostly.") == "It worked, mostly."
    assert say("It worked—mostly.") == "It worked, mostly."


# ------------------------------------------------------------------------------------------- German


@pytest.mark.parametrize("text, words", [
    ("Im Jahr 1745", "Im Jahr siebzehnhundertfünfundvierzig"),
    ("Im Jahr 2004", "Im Jahr zweitausendvier"),
    ("1.234 Menschen", "eintausendzweihundertvierunddreißig Menschen"),
    ("3,5 Kilo", "drei Komma fünf Kilo"),
    ("8 %", "acht Prozent"),
    ("8,5 %", "acht Komma fünf Prozent"),
    ("30 €", "dreißig Euro"),
    ("1 €", "ein Euro"),
    ("12,50 €", "zwölf Euro und fünfzig Cent"),
    ("1,5 Mio. €", "eins Komma fünf Millionen Euro"),
    ("3 Mrd. €", "drei Milliarden Euro"),
    ("€1,2m", "eins Komma zwei Millionen Euro"),
    ("1745–1821", "siebzehnhundertfünfundvierzig bis achtzehnhunderteinundzwanzig"),
    ("10-12 Personen", "zehn bis zwölf Personen"),
    ("Am 3. Oktober", "Am dritten Oktober"),
    ("im 19. Jahrhundert", "im neunzehnten Jahrhundert"),
    ("die 1990er", "die neunzehnhundertneunziger"),
    ("die 60er-Jahre", "die sechziger-Jahre"),
    ("um 10:30 Uhr", "um zehn Uhr dreißig"),
    ("um 1 Uhr", "um ein Uhr"),
    ("Müller & Söhne", "Müller und Söhne"),
    ("z. B. hier", "zum Beispiel hier"),
    ("Nr. 5", "Nummer fünf"),
    ("Hunde, Katzen usw.", "Hunde, Katzen und so weiter."),
    ("-5 °C", "minus fünf Grad Celsius"),
])
@pytest.mark.parametrize("language", ["de", "de-DE", "de-AT"])
def test_german(text, words, language):
    assert speakable(text, language) == words


# ------------------------------------------------------------------------------------------- French


@pytest.mark.parametrize("text, words", [
    ("en 1745", "en mille sept cent quarante-cinq"),
    ("10 000 habitants", "dix mille habitants"),
    ("10\u202f000 habitants", "dix mille habitants"),
    ("3,25", "trois virgule vingt-cinq"),
    ("8 %", "huit pour cent"),
    ("30 €", "trente euros"),
    ("12,50 €", "douze euros et cinquante centimes"),
    ("1,5 million €", "un virgule cinq million d'euros"),
    ("3 millions €", "trois millions d'euros"),
    ("le 1er mai", "le premier mai"),
    ("la 1re fois", "la première fois"),
    ("la 2e fois", "la deuxième fois"),
    ("le 3ème", "le troisième"),
    ("de 1745 à 1821", "de mille sept cent quarante-cinq à mille huit cent vingt et un"),
    ("1745–1821", "mille sept cent quarante-cinq à mille huit cent vingt et un"),
    ("10-12 personnes", "dix à douze personnes"),
    ("à 10h30", "à dix heures trente"),
    ("à 1h", "à une heure"),
    ("Dupont & fils", "Dupont et fils"),
    ("M. Dupont et Mme Curie", "Monsieur Dupont et Madame Curie"),
    ("n° 5", "numéro cinq"),
])
@pytest.mark.parametrize("language", ["fr", "fr-FR"])
def test_french(text, words, language):
    assert speakable(text, language) == words


def test_regional_num2words_variant():
    assert speakable("90", "fr-BE") == "nonante"
    assert speakable("90", "fr-FR") == "quatre-vingt-dix"


# ------------------------------------------------------------------------------------ other languages


@pytest.mark.parametrize("text, language, words", [
    ("el 1º y la 2ª", "es", "el primero y la segunda"),
    ("21 €", "es-ES", "veintiún euros"),
    ("3,5 %", "es", "tres coma cinco por ciento"),
    ("il 1º", "it", "il primo"),
    ("30 €", "it", "trenta euro"),
    ("de 1e en 2de", "nl", "de eerste en tweede"),
    ("8 %", "nl", "acht procent"),
    ("8 %", "pt-BR", "oito por cento"),
    ("3,5 & 2", "sv", "tre komma fem och två"),
])
def test_other_languages(text, language, words):
    assert speakable(text, language) == words


def test_language_without_num2words_keeps_digits_for_espeak():
    # num2words has no Chinese or Greek: the digits and symbols stay for espeak-ng to read
    assert speakable("1990年 8% 30€", "zh") == "1990年 8% 30€"
    assert speakable("Το 1990, 8%.", "el") == "Το 1990, 8%."


def test_unusable_num2words_language_keeps_digits():
    # num2words 0.5.14's Amharic never returns for this number: the digits are left for espeak-ng
    assert speakable("10142502", "am") == "10142502"


def test_very_long_numbers_are_read_digit_by_digit():
    assert say("ref 1234567890123456") == "ref " + " ".join(
        ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "zero"]
        + ["one", "two", "three", "four", "five", "six"])
    assert say("1" * 5000).count("one") == 5000  # no int() of a 5,000-digit string


def test_symbols_without_words_in_the_language_are_left_for_espeak():
    # num2words' Swedish only has English currency names: espeak-ng reads the symbol in Swedish
    assert speakable("30 €", "sv") == "trettio €"


# --------------------------------------------------------------------------------- espeak-ng voices


@pytest.mark.parametrize("tag, voice", [
    ("en", "en"), ("en-GB", "en"), ("en-gb", "en"), ("en_GB", "en"), ("en-AU", "en"),
    ("en-US", "en-us"), ("en-GB-x-rp", "en-gb-x-rp"),
    ("de", "de"), ("de-DE", "de"), ("de-AT", "de"),
    ("fr", "fr"), ("fr-FR", "fr"), ("fr-CA", "fr"), ("fr-BE", "fr-be"), ("fr-CH", "fr-ch"),
    ("es", "es"), ("es-ES", "es"), ("es-MX", "es-419"), ("es-419", "es-419"),
    ("pt", "pt"), ("pt-PT", "pt"), ("pt-BR", "pt-br"),
    ("it", "it"), ("nl", "nl"), ("nl-BE", "nl"),
    ("nb", "nb"), ("no", "nb"), ("nb-NO", "nb"), ("nn", "nb"),
    ("zh", "cmn"), ("zh-Hans-CN", "cmn"), ("zh-HK", "yue"),
    ("iw", "he"), ("cy", "cy"), ("ja", "ja"),
])
def test_espeak_voice(tag, voice):
    assert espeak_voice(tag) == voice


@pytest.mark.parametrize("tag", ["xx", "tlh", "fo", "", "english", "en--GB", "123", None, "e"])
def test_unknown_language(tag):
    with pytest.raises(UnknownLanguage) as err:
        espeak_voice(tag)
    assert err.value.language == tag
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize("tag", ["", "english", "en--GB", "123", None, "e"])
def test_speakable_rejects_a_malformed_tag(tag):
    with pytest.raises(UnknownLanguage):
        speakable("8%", tag)


def test_espeak_accepts_the_voice_names():
    """espeak_SetVoiceByName takes every name espeak_voice gives and picks that voice (run in its own
    process: espeak-ng is initialised once per process and the aligner's tests initialise it too)."""
    tags = ["en-GB", "en-US", "de", "fr-FR", "fr-BE", "es-MX", "pt-BR", "it", "nl", "no", "zh", "zh-HK", "cy"]
    code = textwrap.dedent("""
        import ctypes, json, sys
        import espeakng_loader
        from pipeline.stages.normalise import espeak_voice

        class Voice(ctypes.Structure):
            _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_char_p),
                        ("identifier", ctypes.c_char_p)]

        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        assert lib.espeak_Initialize(2, 0, espeakng_loader.get_data_path().encode(), 0) > 0
        lib.espeak_GetCurrentVoice.restype = ctypes.POINTER(Voice)
        out = {}
        for tag in json.loads(sys.argv[1]):
            name = espeak_voice(tag)
            rc = lib.espeak_SetVoiceByName(name.encode())
            ident = lib.espeak_GetCurrentVoice().contents.identifier.decode()
            out[tag] = [name, rc, ident]
        print(json.dumps(out))
    """)
    import json

    proc = subprocess.run([sys.executable, "-c", code, json.dumps(tags)], capture_output=True, text=True,
                          timeout=60, check=True)
    for tag, (name, rc, ident) in json.loads(proc.stdout).items():
        assert rc == 0, (tag, name)
        assert ident.rsplit("/", 1)[-1].lower() == name, (tag, name, ident)
