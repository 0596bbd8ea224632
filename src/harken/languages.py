"""The languages Whisper knows: ISO-639-1 codes <-> the lowercase English names OpenAI reports.

Requests may name a language either way ("es", "Spanish", "castilian"); engines take the code
and ``verbose_json`` reports the name, so both directions live here, in one table.
"""

from __future__ import annotations

import re

from harken.errors import InvalidRequest

# openai/whisper ``tokenizer.LANGUAGES``, in its order (the order of the model's language
# tokens); the same 100 codes faster-whisper accepts. "haw" and "yue" are not ISO-639-1 but are
# what Whisper uses, and "jw" is Whisper's spelling of Javanese.
LANGUAGES: dict[str, str] = {
    "en": "english", "zh": "chinese", "de": "german", "es": "spanish", "ru": "russian",
    "ko": "korean", "fr": "french", "ja": "japanese", "pt": "portuguese", "tr": "turkish",
    "pl": "polish", "ca": "catalan", "nl": "dutch", "ar": "arabic", "sv": "swedish",
    "it": "italian", "id": "indonesian", "hi": "hindi", "fi": "finnish", "vi": "vietnamese",
    "he": "hebrew", "uk": "ukrainian", "el": "greek", "ms": "malay", "cs": "czech",
    "ro": "romanian", "da": "danish", "hu": "hungarian", "ta": "tamil", "no": "norwegian",
    "th": "thai", "ur": "urdu", "hr": "croatian", "bg": "bulgarian", "lt": "lithuanian",
    "la": "latin", "mi": "maori", "ml": "malayalam", "cy": "welsh", "sk": "slovak",
    "te": "telugu", "fa": "persian", "lv": "latvian", "bn": "bengali", "sr": "serbian",
    "az": "azerbaijani", "sl": "slovenian", "kn": "kannada", "et": "estonian", "mk": "macedonian",
    "br": "breton", "eu": "basque", "is": "icelandic", "hy": "armenian", "ne": "nepali",
    "mn": "mongolian", "bs": "bosnian", "kk": "kazakh", "sq": "albanian", "sw": "swahili",
    "gl": "galician", "mr": "marathi", "pa": "punjabi", "si": "sinhala", "km": "khmer",
    "sn": "shona", "yo": "yoruba", "so": "somali", "af": "afrikaans", "oc": "occitan",
    "ka": "georgian", "be": "belarusian", "tg": "tajik", "sd": "sindhi", "gu": "gujarati",
    "am": "amharic", "yi": "yiddish", "lo": "lao", "uz": "uzbek", "fo": "faroese",
    "ht": "haitian creole", "ps": "pashto", "tk": "turkmen", "nn": "nynorsk", "mt": "maltese",
    "sa": "sanskrit", "lb": "luxembourgish", "my": "myanmar", "bo": "tibetan", "tl": "tagalog",
    "mg": "malagasy", "as": "assamese", "tt": "tatar", "haw": "hawaiian", "ln": "lingala",
    "ha": "hausa", "ba": "bashkir", "jw": "javanese", "su": "sundanese", "yue": "cantonese",
}  # fmt: skip

# Other names and codes people send for the same languages (whisper's ``TO_LANGUAGE_CODE``
# aliases, plus the ISO code for Javanese and the withdrawn ISO codes some clients still use).
_ALIASES: dict[str, str] = {
    "burmese": "my", "valencian": "ca", "flemish": "nl", "haitian": "ht",
    "letzeburgesch": "lb", "pushto": "ps", "panjabi": "pa", "moldavian": "ro",
    "moldovan": "ro", "sinhalese": "si", "castilian": "es", "mandarin": "zh",
    "jv": "jw", "iw": "he", "in": "id", "ji": "yi",
}  # fmt: skip

_TO_CODE: dict[str, str] = {
    **{code: code for code in LANGUAGES},
    **{name: code for code, name in LANGUAGES.items()},
    **_ALIASES,
}

# A BCP-47 / POSIX locale such as "en-US" or "pt_BR": the language is the part before the region.
_LOCALE = re.compile(r"^([a-z]{2,3})(?:[-_][a-z0-9]+)+$")


def normalize_language(value: str) -> str:
    """Return the Whisper language code for a code, name or locale ("es", "Spanish", "es-MX").

    Raises ``InvalidRequest`` (param ``language``) naming the value when it is not a language
    Whisper knows, so the caller learns which field was wrong and what it said.
    """
    key = " ".join(value.strip().lower().split())
    code = _TO_CODE.get(key)
    if code is None and (match := _LOCALE.match(key)) is not None:
        code = _TO_CODE.get(match.group(1))
    if code is None:
        raise InvalidRequest(
            f"Unsupported language {value!r}: give an ISO-639-1 code such as 'en' or a "
            "language name such as 'english'.",
            param="language",
        )
    return code


def language_name(code: str) -> str:
    """The lowercase English name OpenAI reports for a language ("es" -> "spanish").

    Accepts anything ``normalize_language`` does. A value it does not know comes back
    lowercased and unchanged: this runs on engine output, where failing a finished
    transcription over a label would be worse than passing the label through.
    """
    try:
        return LANGUAGES[normalize_language(code)]
    except InvalidRequest:
        return code.strip().lower()
