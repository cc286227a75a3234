"""Relative days in article text ("am Donnerstag", "gestern", "last Tuesday"), as calendar days.

News states days relative to when it was written, so a reader of an old article (or the
answer model) cannot tell which Thursday "am Donnerstag" was. With the article's publication
day known, the day is plain arithmetic; without it (undated, or only the month known) nothing
is resolved, because a guessed day is worse than none.

Rules (each fixtured in tests/fixtures/dates/relative.jsonl):
- A bare weekday is the latest such day on or before the publication day (news reports the
  past), unless its clause speaks of the future ("will ... treffen", "soll", "wird", "is due
  to", "plans to"): then the first such day on or after it. The publication weekday itself is
  the publication day in both tenses (agency copy says "am Freitag", not "heute", for the day
  it is sent; a week later would be "am kommenden Freitag").
- "vergangenen/letzten Mittwoch", "last Wednesday": strictly before the publication day;
  "kommenden/nächsten Montag", "next Monday": strictly after. "am Mittwoch vergangener Woche",
  "on Wednesday of last week": that weekday in the previous Monday-to-Sunday week.
- "in der Nacht zu Freitag" resolves to the Friday: the night ends that morning (label
  "Nacht zum 3. Dezember 2021"). "Donnerstagabend", "Thursday night" are the Thursday.
- Tense is read per clause (commas, "dass", "that"), then per sentence: "Lawrow sagte am
  Freitag, man werde sich am Montag treffen" has a past Friday and a future Monday.
- Never resolved: compounds and names (Sonntagsfrage, Karfreitag, "Bild am Sonntag", Good
  Friday), habitual "mittwochs"/"jeden Montag"/"on Mondays", abbreviations (Mo, Di), a weekday
  with an explicit date ("am Donnerstag, 2. Dezember"), "bis heute", "von heute auf morgen",
  and days relative to another event ("am Tag darauf", "the following Monday").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from qa.chunking import split_sentences
from qa.dating import MONTHS

_WD_DE = {"montag": 0, "dienstag": 1, "mittwoch": 2, "donnerstag": 3, "freitag": 4,
          "samstag": 5, "sonnabend": 5, "sonntag": 6}
_WD_EN = {"monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4,
          "saturday": 5, "sunday": 6}
_MONTHS_EN = ["January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December"]
_MONTHS_DE = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
              "September", "Oktober", "November", "Dezember"]
_OFFSET = {"vorgestern": -2, "gestern": -1, "heute": 0, "morgen": 1, "übermorgen": 2,
           "the day before yesterday": -2, "yesterday": -1, "last night": -1, "today": 0,
           "tonight": 0, "tomorrow": 1, "the day after tomorrow": 2}
_OFFSET_KIND = {-2: "day_before_yesterday", -1: "yesterday", 0: "today", 1: "tomorrow",
                2: "day_after_tomorrow"}
_NUMBERS = {"a": 1, "one": 1, "einem": 1, "two": 2, "zwei": 2, "three": 3, "drei": 3,
            "four": 4, "vier": 4, "five": 5, "fünf": 5, "six": 6, "sechs": 6}

_L = r"A-Za-zÄÖÜäöüß"
_PART_DE = r"(?:abend|morgen|vormittag|nachmittag|mittag|früh|nacht)"
_PART_EN = r"(?:morning|afternoon|evening|night)"
_WEEKDAY_DE = "|".join(w.capitalize() for w in _WD_DE)
_WEEKDAY_EN = "|".join(w.capitalize() for w in _WD_EN)
_NUM = r"(?:\d{1,2}|" + "|".join(_NUMBERS) + ")"

_EXPRESSION = re.compile(
    rf"""(?<![{_L}-])(?:
    (?P<de>
      (?:(?P<de_night>(?i:in\s+der\s+nacht\s+(?:vo[nm]\s+(?:{_WEEKDAY_DE})\s+)?(?:zu[mr]?|auf)\s+
          (?:den\s+)?))
       |(?i:am\s+|an\s+diesem\s+|diesen\s+)?
        (?P<de_mod>(?i:vergangene[nm]|letzte[nm]|vorige[nm]|kommende[nm]|nächste[nm])\s+)?)
      (?P<de_wd>{_WEEKDAY_DE})(?i:{_PART_DE})?(?![{_L}]|-[{_L}])
      (?:\s+(?i:{_PART_DE})(?![{_L}]))?
      (?:\s+(?P<de_week>(?:der\s+)?(?:vergangenen|letzten|vorigen|kommenden|nächsten)\s+Woche
          |(?:vergangener|letzter|voriger|kommender|nächster|dieser)\s+Woche))?)
   |(?P<en>
      (?:(?P<en_night>(?i:overnight\s+(?:from\s+(?:{_WEEKDAY_EN})\s+)?(?:into|to)\s+
          |(?:in\s+)?the\s+night\s+(?:to|into|before)\s+))
       |(?i:on\s+)?(?P<en_mod>(?i:last|next|this\s+coming|this\s+past|this)\s+)?)
      (?P<en_wd>{_WEEKDAY_EN})(?:['’]s)?(?![{_L}]|-[{_L}])
      (?:\s+{_PART_EN}(?![{_L}]))?
      (?:\s+(?P<en_week>(?:of\s+)?(?:last|next|this)\s+week)(?![{_L}]))?)
   |(?P<heutigen>(?i:am\s+)?(?P<rel_adj>heutigen|gestrigen|morgigen)\s+(?P<adj_wd>{_WEEKDAY_DE}))
   |(?P<rel>(?i:vorgestern|gestern|heute|übermorgen|morgen|the\s+day\s+before\s+yesterday
          |the\s+day\s+after\s+tomorrow|yesterday|today|tonight|tomorrow|last\s+night))
      (?:['’]s)?(?![{_L}-])(?:\s+(?:früh|(?i:{_PART_DE}|{_PART_EN}))(?![{_L}]))?
   |(?P<ago>(?i:vor\s+(?P<n_de>{_NUM})\s+Tagen|(?P<n_en>{_NUM})\s+days?\s+ago))(?![{_L}])
   |(?P<ahead>(?i:in\s+(?P<n_in>{_NUM})\s+(?:Tagen|days(?:['’]\s+time)?)))(?![{_L}])
)""",
    re.VERBOSE,
)

_MONTH_ANY = "|".join(sorted({m.capitalize() for m in MONTHS} | set(_MONTHS_EN), key=len,
                             reverse=True))
# "am Donnerstag, 2. Dezember", "Thursday, Dec. 2", "Freitag (3.12.)": already explicit
_EXPLICIT_AFTER = re.compile(
    rf"\s*[,(]?\s*(?:den\s+|dem\s+|the\s+)?(?:\d{{1,2}}\.\s*(?:\d{{1,2}}\.|{_MONTH_ANY})"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_MONTH_ANY})"
    rf"|(?:{_MONTH_ANY}|[A-Z][a-z]{{2,3}}\.)\s*\d{{1,2}}(?!\d))"
)
# habitual, indefinite, another event's day, holidays and titles
_SKIP_BEFORE = re.compile(
    r"(?:\b(?i:jeden|jede|jeweils|immer|every|each|einem|einen|ein|a|an\s+jenem|jenen|the"
    r"|following|previous|preceding)"
    r"|\b(?:Good|Black|Cyber|Super|Ash|Easter|Palm|Holy|Maundy|Bloody|Blue|Giving|Shrove|Whit"
    r"|Girl|Man|Schwarzer|Weißer)"
    r"|[^.!?\s„“\"]\s+Der)\W*$"
)
# "Bild am Sonntag", "Mail on Sunday" (the match starts at "am"/"on")
_SUNDAY_TITLE = re.compile(r"\b(?:Welt|Bild|Euro|NZZ|Tagesspiegel|Kurier|taz|Mail|Independent"
                           r"|Scotland|Express|Observer)\W*$")
_SKIP_AFTER = re.compile(
    rf"\W*(?:(?i:darauf|danach|zuvor|davor|vor\s+\S+\s+(?:Wochen?|Monaten?|Jahren?)"
    rf"|\S+\s+(?:weeks?|months?|years?)\s+ago)(?![{_L}])"
    r"|(?:Times|Telegraph|Express|Mirror|Herald|Post|Mail|People|Sport|Night\s+Football"
    r"|Night\s+Live|Independent|Star)\b)"
)
# "bis heute" (= so far), "heute noch", "von heute auf morgen", ZDF's "heute journal"
_SKIP_BEFORE_REL = re.compile(r"(?:\b(?i:bis|von\s+heute\s+auf)|ZDF-?)\W*$")
_SKIP_AFTER_REL = re.compile(
    rf"\W*(?i:noch|auf\s+morgen|journal|show|programme|program|'s\s+show)(?![{_L}])")
_DIRECT_BEFORE = re.compile(r"\b(?i:(ab)|seit|since)\s+$")
_OPENS_CLAUSE = re.compile(r"(?:.*(?:[:–—]|\s-))?\s*[„“\"«»‚‘(]*\s*", re.DOTALL)
_CLAUSE = re.compile(r"[,;:()–—]|\s-\s|\b(?:dass|that|und|and|aber|but|while|während|nachdem"
                     r"|weil|because|whereas|wobei|before|bevor)\b")

# Tense words. The nearest strong marker in the clause decides, then a weak one (a present
# tense that news uses for scheduled events) in the clause, then the same in the sentence;
# past when there is none.
_PAST_DE = (
    "sagte sagten erklärte erklärten teilte teilten betonte betonten warnte warnten drohte "
    "drohten forderte forderten kündigte kündigten bekräftigte bekräftigten telefonierte "
    "telefonierten sprach sprachen traf trafen kam kamen fand fanden gab gaben hatte hatten war "
    "waren wurde wurden ging gingen begann begannen endete endeten reiste reisten besuchte "
    "besuchten beriet berieten verhandelte verhandelten einigte einigten meldete meldeten "
    "berichtete berichteten wies wiesen lehnte lehnten stellte stellten legte legten schrieb "
    "schrieben veröffentlichte nannte nannten zeigte zeigten bestätigte bestätigten verurteilte "
    "kritisierte kritisierten empfing empfingen landete beschloss beschlossen verließ verließen "
    "kehrte kehrten unterzeichnete unterzeichneten tagte tagten hieß stand standen starb "
    "griffen griff schlug schlugen fiel fielen seit wiederholte wiederholten machte machten "
    "äußerte äußerten sicherte sicherten versicherte fragte rief riefen warf warfen nahm nahmen "
    "zog zogen brachte sah sahen lag lagen blieb blieben erhielt erhielten befahl ließ ließen "
    "stieg sank gewann verlor verloren stimmte stimmten vereinbarte vereinbarten erreichte "
    "erreichten"
).split()
_FUTURE_DE = (
    "will wollen wolle soll sollen solle werden wird werde würde würden kommenden kommender "
    "nächste nächsten nächster bevorstehende bevorstehenden geplant geplante geplanten plant "
    "planen anstehenden voraussichtlich beabsichtigt beabsichtigen vorgesehen angesetzt"
).split()
_WEAK_FUTURE_DE = (
    "beginnt beginnen startet starten statt tagt tagen trifft treffen reist reisen kommt kommen "
    "berät beraten spricht sprechen telefoniert telefonieren verhandelt verhandeln entscheidet "
    "entscheiden endet enden läuft laufen besucht besuchen fliegt fliegen empfängt stimmt "
    "stimmen wählt wählen dürfte dürften"
).split()
_PAST_EN = (
    "said told was were had did met spoke held made took came went left gave began sent saw "
    "got struck fell launched since ago"
).split()
_FUTURE_EN = ("will 'll ’ll shall would due scheduled slated planned plans plan planning "
              "expected set going next upcoming coming").split()
_WEAK_FUTURE_EN = ("could might may meet meets travels arrives begins starts visits heads "
                   "resumes convenes holds").split()
_NOT_PAST_ED = {"scheduled", "expected", "planned", "slated", "proposed", "intended",
                "united", "based", "related", "interested", "concerned", "armed", "indeed",
                "need", "speed", "proceed", "exceed", "succeed"}
_PASSIVE_BE = re.compile(r"\b(?:be|been|being|is|are|am)\s+(?:\w+ly\s+)?$")
# weak past tense: definierte, antwortete, meldete, eröffneten (not "vertreten", "bieten")
_WEAK_PAST_DE = re.compile(r"[a-zäöüß]{2,}(?:ier|[tdn]e)ten?")
_PERFECT_AUX = re.compile(r"\b(?:hat|haben|habe|ist|sind|sei|seien)\b")
_PARTICIPLE = re.compile(r"\b[a-zäöü]*ge[a-zäöüß]{2,}(?:t|en)\b|\b[a-zäöü]{3,}iert\b")
_NOT_PARTICIPLE = {"gegen", "gehen", "geben", "gelten", "gewinnen", "geplant", "genug"}
_YEAR = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)")
_WORD = re.compile(r"[A-Za-zÄÖÜäöüß'’]+")


@dataclass(frozen=True)
class RelativeDay:
    """One relative day expression in a text and the calendar day it names."""

    start: int  # character span of the expression in the given text
    end: int
    text: str  # text[start:end]
    day: date
    kind: str  # weekday, weekday_future, weekday_last, weekday_next, weekday_last_week, ...

    def label(self, lang: str = "de") -> str:
        """ "2. Dezember 2021" / "December 2, 2021"; a night: "Nacht zum 3. Dezember 2021"."""
        d = self.day
        if lang == "en":
            text = f"{_MONTHS_EN[d.month - 1]} {d.day}, {d.year}"
            return f"night into {text}" if self.kind == "night_to" else text
        text = f"{d.day}. {_MONTHS_DE[d.month - 1]} {d.year}"
        return f"Nacht zum {text}" if self.kind == "night_to" else text


def resolve_relative_days(text: str, published: str | None,
                          lang: str | None = None) -> list[RelativeDay]:
    """All relative day expressions in `text`, resolved against the ISO day `published`.

    Returns [] unless `published` is a full day (YYYY-MM-DD): a month-only date or None never
    resolves anything. `lang`: the text's language if known (it picks the tense words); None,
    the default and the safer choice, takes each expression's own ("Donnerstag" is German).
    """
    pub = _full_day(published)
    if pub is None or not _EXPRESSION.search(text):
        return []
    found: list[RelativeDay] = []
    for s_start, s_end in _sentences(text):
        for match in _EXPRESSION.finditer(text, s_start, s_end):
            if _skipped(text, match, s_start, s_end):
                continue
            resolved = _resolve(text, match, pub, s_start, s_end, lang)
            if resolved is not None:
                day, kind = resolved
                found.append(RelativeDay(match.start(), match.end(), match.group(), day, kind))
    return found


def annotate_relative_days(text: str, published: str | None, lang: str | None = None) -> str:
    """`text` with the day after each expression: "am Donnerstag [2. Dezember 2021]"."""
    days = resolve_relative_days(text, published, lang)
    if not days:
        return text
    english = sum(_english(rel.text) for rel in days)
    label_lang = lang or ("en" if english > len(days) - english else "de")
    for rel in reversed(days):
        text = f"{text[:rel.end]} [{rel.label(label_lang)}]{text[rel.end:]}"
    return text


def _sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans of the paragraphs that hold a candidate (the splitter is costly)."""
    spans: list[tuple[int, int]] = []
    for para in re.finditer(r"[^\n]+", text):
        if _EXPRESSION.search(para.group()):
            spans += [(para.start() + a, para.start() + b)
                      for a, b in split_sentences(para.group())]
    return spans


def _full_day(published: str | None) -> date | None:
    if not published or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", published.strip()[:10]):
        return None
    try:
        return date.fromisoformat(published.strip()[:10])
    except ValueError:
        return None


def _skipped(text: str, match: re.Match[str], s_start: int, s_end: int) -> bool:
    before = text[max(s_start, match.start() - 40):match.start()]
    after = text[match.end():match.end() + 40]
    if match.group("de_wd") or match.group("en_wd"):
        if _SKIP_BEFORE.search(before) or _SKIP_AFTER.match(after):
            return True
        if match.group().lower().startswith(("am sonntag", "on sunday")) and (
                _SUNDAY_TITLE.search(before)):
            return True
        return bool(_EXPLICIT_AFTER.match(after)) and not (
            match.group("de_week") or match.group("en_week"))
    rel = match.group("rel")
    if rel:
        if _SKIP_BEFORE_REL.search(before) or _SKIP_AFTER_REL.match(after):
            return True
        sentence = text[s_start:s_end]
        if rel.lower() in ("heute", "today") and _YEAR.search(sentence):
            return True  # "Anders als 2014 ist die Armee heute ...": nowadays, not a day
        # capitalised inside a sentence it is a title or a noun: "USA Today", "am Morgen"
        return rel[0].isupper() and not _OPENS_CLAUSE.fullmatch(text[s_start:match.start()])
    return False


def _resolve(text: str, match: re.Match[str], pub: date, s_start: int, s_end: int,
             lang: str | None) -> tuple[date, str] | None:
    if match.group("rel"):
        offset = _OFFSET[" ".join(match.group("rel").lower().split())]
        return pub + timedelta(offset), _OFFSET_KIND[offset]
    if match.group("heutigen"):
        offset = {"heutigen": 0, "gestrigen": -1, "morgigen": 1}[match.group("rel_adj").lower()]
        day = pub + timedelta(offset)
        # "am heutigen Montag" must name the right weekday, else the date is not to be trusted
        agrees = day.weekday() == _WD_DE[match.group("adj_wd").lower()]
        return (day, _OFFSET_KIND[offset]) if agrees else None
    if match.group("ago") or match.group("ahead"):
        word = (match.group("n_de") or match.group("n_en") or match.group("n_in")).lower()
        n = int(word) if word.isdigit() else _NUMBERS[word]
        return (pub - timedelta(n), "days_ago") if match.group("ago") else (
            pub + timedelta(n), "days_ahead")
    if match.group("de"):
        target = _WD_DE[match.group("de_wd").lower()]
        mod, week, night = match.group("de_mod"), match.group("de_week"), match.group("de_night")
    else:
        target = _WD_EN[match.group("en_wd").lower()]
        mod, week, night = match.group("en_mod"), match.group("en_week"), match.group("en_night")
    mod = " ".join(mod.lower().split()) if mod else ""
    week = week.lower() if week else ""
    monday = pub - timedelta(pub.weekday())
    if week:
        shift = 0 if "dies" in week or "this" in week else (
            -7 if any(w in week for w in ("vergangen", "letzt", "vorig", "last")) else 7)
        kind = {0: "weekday_this_week", -7: "weekday_last_week", 7: "weekday_next_week"}[shift]
        return monday + timedelta(shift + target), kind
    back = (pub.weekday() - target) % 7
    ahead = (target - pub.weekday()) % 7
    if mod.startswith(("vergangene", "letzte", "vorige", "last", "this past")):
        return pub - timedelta(back or 7), "weekday_last"
    if mod.startswith(("kommende", "nächste", "next", "this coming")):
        return pub + timedelta(ahead or 7), "weekday_next"
    # "ab Montag" starts in the future, "seit Montag" in the past, whatever the verb
    direct = _DIRECT_BEFORE.search(text[s_start:match.start()])
    lang = lang or ("en" if _english(match.group()) else "de")
    future = bool(direct.group(1)) if direct else _future(text, match.start(), s_start, s_end,
                                                          lang)
    day = pub + timedelta(ahead) if future else pub - timedelta(back)
    if night:
        return day, "night_to"
    return day, "weekday_future" if future else "weekday"


def _english(expression: str) -> bool:
    """English expressions all hold "day", "night" or "tomorrow"; German ones none of them."""
    return bool(re.search(r"(?i)day|night|tomorrow", expression))


def _future(text: str, pos: int, s_start: int, s_end: int, lang: str) -> bool:
    """Does the clause (else the sentence) around `pos` speak of the future?"""
    sentence = text[s_start:s_end]
    markers = _markers(sentence, lang)
    if not markers:
        return False
    rel = pos - s_start
    bounds = [0, *(m.start() for m in _CLAUSE.finditer(sentence)), len(sentence)]
    lo = max(b for b in bounds if b <= rel)
    hi = min(b for b in bounds if b > rel)
    for in_clause in (True, False):
        for strong in (True, False):
            near = [(abs(at - rel), future) for at, future, s in markers
                    if s == strong and (not in_clause or lo <= at < hi)]
            if near:
                return min(near)[1]
    return False


def _markers(sentence: str, lang: str) -> list[tuple[int, bool, bool]]:
    """(position, is_future, is_strong) of the tense words in a sentence."""
    found: list[tuple[int, bool, bool]] = []
    de = lang != "en"
    past, fut, weak = ((_PAST_DE, _FUTURE_DE, _WEAK_FUTURE_DE) if de
                       else (_PAST_EN, _FUTURE_EN, _WEAK_FUTURE_EN))
    for m in _WORD.finditer(sentence):
        w = m.group().lower()
        if w in past:
            found.append((m.start(), False, True))
        elif w in fut or (not de and w.endswith(("'ll", "’ll"))):
            found.append((m.start(), True, True))
        elif w in weak:
            found.append((m.start(), True, False))
        elif de and m.group()[0].islower() and _WEAK_PAST_DE.fullmatch(w):
            found.append((m.start(), False, True))
        elif (not de and w.endswith("ed") and len(w) > 4 and w not in _NOT_PAST_ED
              and not _PASSIVE_BE.search(sentence, 0, m.start())):
            found.append((m.start(), False, True))  # "met", not "will be followed"
    if de and _PERFECT_AUX.search(sentence):
        for m in _PARTICIPLE.finditer(sentence):
            if m.group() not in _NOT_PARTICIPLE and m.group() not in _FUTURE_DE:
                found.append((m.start(), False, True))
    return found
