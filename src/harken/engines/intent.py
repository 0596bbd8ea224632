"""Is a chat turn only asking for a transcript? Then the cascade returns Whisper's words verbatim.

A text LLM asked to "transcribe" a transcript it was given paraphrases, drops words or adds a
preamble; an audio-language model (Voxtral) transcribes. So a request made only of a
transcription verb and filler words ("please", "this audio", "exactly as spoken") in one of
Voxtral's languages (en, es, fr, pt, hi, de, nl, it) is answered with the ASR text. Anything
else ("transcribe and summarise", "transcribe into French", "what is this audio about?") goes
to the LLM.
"""

from __future__ import annotations

import re
import unicodedata

# Word starts that make a request about transcription, accents removed: transcribe /
# transcript(ion) (en, fr, es, nl), transcreva / transcrição (pt), trascrivi (it),
# transkribiere (de), and the Hindi loan word and native term.
_VERB = re.compile(r"^(transcri|transcre|trascri|transkri|ट्रांसक्राइब|प्रतिलेख|लिप्यंतरण)")

# Words that may stand around the verb without changing what is asked, accents removed.
_FILLER = frozenset(
    """
    please pls kindly can could would you me a an the this that these it its is was of for
    give provide produce write make get create generate return just only out down full
    complete entire whole audio audios recording clip file sound speech voice message text
    exactly exact verbatim literally word words as spoken said it's here following below
    what whats is being in original its language
    do not dont don't no without any add adding include including commentary comments comment
    explanation explanations notes note preamble extra other else nothing additional anything
    sin comentarios explicaciones nada mas sans commentaire commentaires rien d'autre
    por favor este esta estos el la lo los las del de al audio grabacion archivo exactamente
    como se dice dijo habla hablado hablo tal cual palabra literalmente textualmente que en
    idioma original puedes podrias
    cet cette ce l le la les du de des enregistrement fichier exactement tel telle tels quel
    qu quil il elle est a ete prononce dit mot pour s sil vous plait stp merci mot-a-mot
    en langue originale peux pouvez
    o a os as do da dos das este esta isso gravacao arquivo exatamente como foi falado dito
    palavra literalmente voce pode
    dieses diese diesen das den die dem der audio aufnahme datei genau wie gesprochen
    wortlich wort fur bitte es wurde wird text kannst konnen sie du
    deze dit de het een opname bestand precies zoals gesproken letterlijk woord voor
    alsjeblieft alstublieft wordt werd is kun kunt je u
    questo questa quest lo il la l i gli le audio registrazione file esattamente come e
    stato parlato detto parola per favore letteralmente puoi potresti
    इस इसे यह ऑडियो ऑडियो को का की के करें करो कीजिए कीजिये करिए कृपया ठीक वैसे ही जैसा
    जैसे बोला गया है था रिकॉर्डिंग शब्दशः दें दो
    """.split()
)


def is_transcription_request(text: str) -> bool:
    """True when ``text`` asks only for a transcript of the audio (exact rules, no model)."""
    words = _words(text)
    if not words or len(words) > 16:  # a long instruction asks for more than a transcript
        return False
    verbs = [w for w in words if _VERB.match(w)]
    return bool(verbs) and all(w in _FILLER or _VERB.match(w) for w in words)


def _words(text: str) -> list[str]:
    """Lower-case words without punctuation; Latin accents dropped (Devanagari kept whole)."""
    out = []
    # An apostrophe splits ("l'audio", "it's"): each side is a word of its own.
    for raw in re.sub(r"['’`]", " ", text.casefold()).split():
        word = "".join(c for c in raw if not unicodedata.category(c).startswith(("P", "S")))
        if word.isascii() or not word:
            pass
        elif all(ord(c) < 0x0250 for c in unicodedata.normalize("NFC", word)):
            decomposed = unicodedata.normalize("NFKD", word)
            word = "".join(c for c in decomposed if not unicodedata.combining(c))
        if word:
            out.append(word)
    return out
