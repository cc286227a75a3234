"""English nationality, country and role words, in the German the claim check reads.

An English answer over German articles shares no words with them, so the claim check's word
features mean nothing there and only the support score decides; under it "The Russian
defence minister is Olexij Resnikow" passed against "Der ukrainische Verteidigungsminister
Olexij Resnikow …" (cosine 0.72). Nationalities and offices are few, and they are exactly
what such a wrong claim gets wrong, so a short glossary lets the same-language rules read
them: `to_german` turns "The Russian defence minister" into "The russische
Verteidigungsminister" and leaves every other word alone.
"""

from __future__ import annotations

import re
from functools import lru_cache

#: English adjective -> the German adjective (any ending; the claim check reads its stem).
#: Left out where the English word mostly means something else: "English" (the language, "in
#: English"), "Turkey" (the bird), "general" ("in general").
NATIONALITIES = {
    "russian": "russische", "ukrainian": "ukrainische", "american": "amerikanische",
    "german": "deutsche", "french": "französische", "british": "britische",
    "italian": "italienische", "spanish": "spanische",
    "polish": "polnische", "chinese": "chinesische", "japanese": "japanische",
    "austrian": "österreichische", "swiss": "schweizerische", "turkish": "türkische",
    "greek": "griechische", "dutch": "niederländische", "swedish": "schwedische",
    "european": "europäische", "soviet": "sowjetische", "prussian": "preußische",
    "bavarian": "bayerische", "catholic": "katholische", "protestant": "evangelische",
}
#: English country name (also with "'s") -> the German genitive, which the check reads as the
#: country's adjective ("Russia's foreign minister" is the russische one).
COUNTRIES = {
    "russia": "Russlands", "ukraine": "Ukraine", "germany": "Deutschlands",
    "america": "Amerikas", "france": "Frankreichs", "britain": "Großbritanniens",
    "great britain": "Großbritanniens", "england": "Englands", "italy": "Italiens",
    "spain": "Spaniens", "poland": "Polens", "china": "Chinas", "japan": "Japans",
    "austria": "Österreichs", "greece": "Griechenlands",
    "sweden": "Schwedens", "europe": "Europas",
}
#: English office -> the German role word (`qa.claim_check.ROLES`); longest phrases first when
#: matched, so "defence minister" is not read as "minister".
ROLES = {
    "defence minister": "Verteidigungsminister", "defense minister": "Verteidigungsminister",
    "minister of defence": "Verteidigungsminister", "minister of defense": "Verteidigungsminister",
    "defence secretary": "Verteidigungsminister", "defense secretary": "Verteidigungsminister",
    "secretary of defense": "Verteidigungsminister",
    "foreign minister": "Außenminister", "secretary of state": "Außenminister",
    "foreign secretary": "Außenminister", "prime minister": "Premierminister",
    "minister": "Minister", "president": "Präsident", "chancellor": "Kanzler",
    "king": "König", "emperor": "Kaiser", "pope": "Papst", "bishop": "Bischof",
    "mayor": "Bürgermeister", "director": "Direktor", "professor": "Professor",
    "ambassador": "Botschafter", "governor": "Gouverneur",
    "senator": "Senator", "spokesman": "Sprecher", "spokeswoman": "Sprecher",
    "spokesperson": "Sprecher", "chairman": "Vorsitzende", "founder": "Gründer",
    "duke": "Herzog",
}
_GLOSSARY = {**NATIONALITIES, **COUNTRIES, **ROLES}
_PHRASE = re.compile(
    r"(?<![\w-])(" + "|".join(re.escape(p).replace(r"\ ", r"\s+")
                             for p in sorted(_GLOSSARY, key=len, reverse=True))
    + r")(?:'s|’s|s)?(?![\w-])", re.IGNORECASE)


#: "The defence minister is Olexij Resnikow" says what "Verteidigungsminister Olexij Resnikow"
#: does: the copula between an office and a name goes, so the office stands next to the name.
_COPULA = re.compile(r"\b(" + "|".join(sorted(set(ROLES.values()))) + r") (?:is|was) "
                     r"(?=[A-ZÄÖÜ])")


@lru_cache(maxsize=1024)
def to_german(text: str) -> str:
    """`text` with its English nationality, country and role words in German; other words
    stay as they are ("Blinken met Russia's foreign minister" -> "Blinken met Russlands
    Außenminister"). "US" needs no entry: the check reads it as it reads "US-Außenminister"."""
    glossed = _PHRASE.sub(lambda m: _GLOSSARY[re.sub(r"\s+", " ", m.group(1).lower())], text)
    return _COPULA.sub(r"\1 ", glossed)


def without_attribute_words(text: str) -> str:
    """`text` without its nationality, country and role words ("The foreign minister is John
    Kerry" -> "The  is John Kerry"): for rules that leave those words to the attribute rule."""
    return _PHRASE.sub(" ", text)
