#!/usr/bin/env python
"""English claims about German passages: does the claim check see a wrong office or
nationality across languages? A claim set built from the bench corpora without hand labels.

Every German sentence that names a person by office ("der russische Außenminister Sergej
Lawrow", "Bundeskanzler Werner Faymann") gives English claims about its passage (the
paragraph, or for the one-line news-de articles the sentence with three on either side):

- true: "The Russian foreign minister is Sergej Lawrow."
- office swapped: "The president is Werner Faymann." (another office, picked by a hash)
- nationality swapped: "The Ukrainian foreign minister is Sergej Lawrow." (where the sentence
  gives one)
- nationality added: "The British chancellor is Werner Faymann." (one the passage never names)

Each claim cites its passage and is checked as an English answer sentence is
(`CitationVerifier.verify`, language "en") four times: by the support score alone (as before
both rules), with the attribute rule (`qa.claim_check.attributes_agree`), with the name rule
(`qa.name_check`), and with both, as the product checks it. The false kinds change exactly
the words the attribute rule reads, so their rejection shows what the support score missed;
the true kind shows what the rules cost on real passages (other offices and nationalities
nearby, feminine forms, compounds).

    python scripts/cross_claims.py            # about 4 minutes
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from qa.attribute_words import NATIONALITIES, ROLES  # noqa: E402
from qa.evaluation.claimset import _pick  # noqa: E402

#: German office (as the articles write it, feminine forms too) -> the English the claims use.
OFFICES = {
    "Präsident": "president", "Präsidentin": "president", "Außenminister": "foreign minister",
    "Außenministerin": "foreign minister", "Verteidigungsminister": "defence minister",
    "Verteidigungsministerin": "defence minister", "Bundeskanzler": "chancellor",
    "Bundeskanzlerin": "chancellor", "Kanzler": "chancellor", "Kanzlerin": "chancellor",
    "Premierminister": "prime minister", "Premierministerin": "prime minister",
    "Botschafter": "ambassador", "Bürgermeister": "mayor", "Bürgermeisterin": "mayor",
    "König": "king", "Papst": "pope", "Gouverneur": "governor", "Senator": "senator",
    "Gründer": "founder", "Direktor": "director", "Bischof": "bishop",
}
_ENGLISH_OF = {de.removesuffix("e"): en for en, de in NATIONALITIES.items()}
_NAT = "|".join(sorted(_ENGLISH_OF, key=len, reverse=True))
_OFFICE = "|".join(sorted(OFFICES, key=len, reverse=True))
_NAME = r"[A-ZÄÖÜ][a-zäöüß]+(?:-[A-ZÄÖÜ][a-zäöüß]+)?"
PATTERN = re.compile(rf"(?:\b(?P<nat>{_NAT})(?:e|en|er|es)?\s+)?\b(?P<office>{_OFFICE})\s+"
                     rf"(?P<name>{_NAME}\s+{_NAME})\b")
SETS = ("news-de", "germanquad", "xquad-de", "mlqa-de")
assert set(OFFICES.values()) <= set(ROLES), "every office the claims use is in the glossary"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bench", type=Path, default=REPO.parent / "shared" / "bench")
    p.add_argument("--articles", type=Path, default=REPO / "data" / "articles")
    p.add_argument("--limit", type=int, default=400, help="sentences at most (hash order)")
    return p.parse_args()


def passages(folders: list[Path]) -> list[str]:
    """Paragraphs of every file; a one-line article becomes windows of seven sentences."""
    from qa.support import passage_sentences

    out = []
    for folder in folders:
        for path in sorted(folder.glob("*.txt")):
            for para in path.read_text(encoding="utf-8").split("\n\n"):
                sentences = [s.text for s in passage_sentences(para.strip())]
                if len(sentences) <= 12:
                    out.append(para.strip())
                    continue
                out += [" ".join(sentences[max(0, k - 3): k + 4])
                        for k in range(3, len(sentences), 7)]
    return out


def claims(texts: list[str], limit: int) -> list[tuple[str, str, str]]:
    """(kind, English claim, passage) for each office named with a name, in hash order."""
    from qa.claim_check import PassageAttributes

    found = {(m.group("nat"), m.group("office"), m.group("name"), text)
             for text in texts for m in PATTERN.finditer(text)}
    chosen = sorted(found, key=lambda f: hashlib.sha1("|".join(map(str, f)).encode()
                                                      ).hexdigest())[:limit]
    offices = sorted(set(OFFICES.values()))
    out = []
    for nat, office, name, text in chosen:
        key = f"{office}/{name}"
        english = OFFICES[office]
        adjective = f"{_ENGLISH_OF[nat].capitalize()} " if nat else ""
        out.append(("true", f"The {adjective}{english} is {name}.", text))
        other = _pick([o for o in offices if o != english], key)
        out.append(("office swapped", f"The {adjective}{other} is {name}.", text))
        if nat:
            swap = _pick([n for n in _ENGLISH_OF if n != nat], key + "/nat")
            out.append(("nationality swapped",
                        f"The {_ENGLISH_OF[swap].capitalize()} {english} is {name}.", text))
        given = PassageAttributes.of(text).nationalities
        absent = [n for n in _ENGLISH_OF if n not in given]
        added = _pick(absent, key + "/added")
        out.append(("nationality added",
                    f"The {_ENGLISH_OF[added].capitalize()} {english} is {name}.", text))
    return out


def accepted(verifier, items: list[tuple[str, str, str]]) -> list[bool]:
    from qa.citations import ParsedSentence
    from qa.schema import Hit

    out = []
    for i, (_, claim, text) in enumerate(items):
        hit = Hit(chunk_id=i, article_id=str(i), ordinal=0, start=0, end=len(text), text=text,
                  title="", date=None, source=None, path=f"{i}.txt", score=1.0)
        [sentence] = verifier.verify([ParsedSentence(claim, [1])], [hit], "en")
        out.append(sentence.verified)
    return out


def main() -> int:
    args = parse_args()
    folders = [args.bench / s / "corpus" for s in SETS if (args.bench / s / "corpus").is_dir()]
    if not folders:
        print(f"Bench data not found under {args.bench}; nothing to measure.", file=sys.stderr)
        return 0
    import qa.claim_check
    from qa.citations import CitationVerifier
    from qa.embedding import Embedder
    from qa.evaluation.report import md_table
    from qa.settings import Settings
    from qa.support import SupportScorer

    items = claims(passages([*folders, args.articles]), args.limit)
    settings = Settings()
    scorer = SupportScorer(Embedder(settings))
    with_names = CitationVerifier(scorer, settings.support_threshold)
    without_names = CitationVerifier(scorer, settings.support_threshold,
                                     name_check_file=Path("/nonexistent"))
    after = accepted(with_names, items)
    attribute_only = accepted(without_names, items)
    rule = qa.claim_check.attributes_agree
    qa.claim_check.attributes_agree = lambda *_: True  # type: ignore[assignment]
    try:
        before = accepted(without_names, items)
        names_only = accepted(with_names, items)
    finally:
        qa.claim_check.attributes_agree = rule
    n: Counter[str] = Counter(kind for kind, _, _ in items)
    rows = []
    for kind in n:
        idx = [i for i, (k, _, _) in enumerate(items) if k == kind]
        rows.append([kind, n[kind], *(sum(run[i] for i in idx) / len(idx)
                                      for run in (before, attribute_only, names_only, after))])
    print(md_table(["claim kind", "n", "accepted: support score alone", "attribute rule",
                    "name rule (qa.name_check)", "both (the product)"], rows))
    print("\nTrue claims the rule rejects, false ones it lets pass:")
    for i, (kind, claim, text) in enumerate(items):
        if (kind == "true" and before[i] and not after[i]) or (kind != "true" and after[i]):
            print(f"- {kind}: {claim}\n    {text[:240]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
