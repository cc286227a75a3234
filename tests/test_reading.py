"""Reading each supported format (and refusing others) into raw articles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.cleaning import clean_article
from qa.reading import RawArticle, Skipped, decode, read_path

MAX = 5_000_000

HTML_PAGE = """<!DOCTYPE html>
<html lang="de">
<head>
<meta charset="utf-8">
<title>Scholz reist nach Washington | Beispiel-Nachrichten</title>
<meta property="og:title" content="Scholz reist nach Washington">
<meta property="og:site_name" content="Beispiel-Nachrichten">
<meta property="article:published_time" content="2022-02-07T08:30:00+01:00">
<link rel="canonical" href="https://nachrichten.example.de/politik/scholz-washington-100.html">
</head>
<body>
<div id="cookie-banner" class="cookie-consent">Wir verwenden Cookies, um Ihnen das beste
Nutzererlebnis zu bieten. <button>Alle akzeptieren</button>
<a href="/datenschutz">Datenschutzerklärung</a></div>
<header><nav class="main-nav"><ul>
<li><a href="/">Startseite</a></li><li><a href="/politik">Politik</a></li>
<li><a href="/wirtschaft">Wirtschaft</a></li><li><a href="/sport">Sport</a></li>
</ul></nav></header>
<main>
<article>
<h1>Scholz reist nach Washington</h1>
<p>Bundeskanzler Olaf Scholz ist zu seinem ersten Besuch als Regierungschef in die USA
aufgebrochen. Im Weißen Haus will er mit Präsident Joe Biden über den Ukraine-Konflikt
sprechen.</p>
<p>Vor dem Abflug betonte Scholz die Geschlossenheit des Westens. „Wir sind uns einig, dass
eine militärische Aggression gegen die Ukraine schwerwiegende Konsequenzen hätte“, sagte der
SPD-Politiker. Kritiker hatten der Bundesregierung zuvor Zögerlichkeit vorgeworfen.</p>
<p>Im Mittelpunkt der Gespräche steht auch die Gaspipeline Nord Stream 2. Die US-Regierung
drängt Berlin seit Monaten, die Leitung im Fall eines russischen Angriffs zu stoppen.</p>
<p>Am Abend wird der Kanzler zudem ein Interview im US-Fernsehen geben, bevor er am Dienstag
nach Berlin zurückkehrt.</p>
</article>
<aside class="related"><h2>Mehr zum Thema</h2><ul><li><a href="/a">Baerbock in Kiew</a></li>
<li><a href="/b">Macron telefoniert mit Putin</a></li></ul></aside>
</main>
<footer><p>© 2022 Beispiel-Nachrichten GmbH</p><a href="/impressum">Impressum</a>
<a href="/kontakt">Kontakt</a><p>Abonnieren Sie unseren Newsletter!</p></footer>
</body>
</html>
"""

MARKDOWN = """# Baerbock besucht Kiew

**Berlin/Kiew** – Außenministerin Annalena Baerbock ist am Montag zu ihrem
[ersten Besuch](https://example.de/baerbock) in die Ukraine gereist. Sie wolle *Solidarität*
zeigen, sagte sie.

![Baerbock am Flughafen](bild.jpg)

## Gespräche mit Kuleba

Baerbock traf den ukrainischen Außenminister Dmytro Kuleba. Beide sprachen über die Lage an der
Grenze.

- Waffenlieferungen lehnt die Bundesregierung weiter ab
- Deutschland sagt weitere humanitäre Hilfe zu

---

> Wir stehen an der Seite der Ukraine.
"""


def read_one(path: Path) -> RawArticle:
    items = list(read_path(path, MAX))
    assert len(items) == 1 and isinstance(items[0], RawArticle), items
    return items[0]


def test_markdown_title_from_heading_and_syntax_stripped(tmp_path: Path) -> None:
    path = tmp_path / "baerbock.md"
    path.write_text(MARKDOWN, encoding="utf-8")
    raw = read_one(path)
    assert raw.fmt == "markdown"
    assert raw.title == "Baerbock besucht Kiew"
    cleaned = clean_article(raw.text, raw.title)
    assert cleaned.title == "Baerbock besucht Kiew"
    text = cleaned.text
    assert text.startswith("Berlin/Kiew – Außenministerin Annalena Baerbock ist am Montag zu "
                           "ihrem ersten Besuch in die Ukraine gereist.")
    assert "Sie wolle Solidarität zeigen, sagte sie." in text
    assert "\n\nGespräche mit Kuleba\n\n" in text  # a subheading stays a paragraph of its own
    # list items stay separate paragraphs rather than being glued into one sentence
    assert "\n\nWaffenlieferungen lehnt die Bundesregierung weiter ab\n\n" in text
    assert text.endswith("Wir stehen an der Seite der Ukraine.")
    for syntax in ("#", "**", "*", "](", "![", "example.de", "bild.jpg", "---", "> ", "- "):
        assert syntax not in text, syntax


def test_html_article_text_extracted_without_page_furniture(tmp_path: Path) -> None:
    path = tmp_path / "scholz.html"
    path.write_text(HTML_PAGE, encoding="utf-8")
    raw = read_one(path)
    assert raw.fmt == "html"
    assert raw.date == "2022-02-07"
    assert raw.url == "https://nachrichten.example.de/politik/scholz-washington-100.html"
    cleaned = clean_article(raw.text, raw.title, raw.date, raw.source)
    assert cleaned.title == "Scholz reist nach Washington"
    assert cleaned.source == "Beispiel-Nachrichten"
    paragraphs = cleaned.text.split("\n\n")
    assert paragraphs[0] == (
        "Bundeskanzler Olaf Scholz ist zu seinem ersten Besuch als Regierungschef in die USA "
        "aufgebrochen. Im Weißen Haus will er mit Präsident Joe Biden über den Ukraine-Konflikt "
        "sprechen."
    )
    assert len(paragraphs) == 4
    assert cleaned.text.endswith("bevor er am Dienstag nach Berlin zurückkehrt.")
    for furniture in ("Cookies", "akzeptieren", "Datenschutz", "Startseite", "Wirtschaft",
                      "Mehr zum Thema", "Baerbock in Kiew", "Impressum", "GmbH", "Newsletter"):
        assert furniture not in cleaned.text, furniture


def test_jsonl_lines_with_metadata_and_a_bad_line(tmp_path: Path) -> None:
    rows = [
        {"title": "Erster Artikel", "text": "Der erste Text über Genf.", "date": "2022-01-21",
         "source": "dpa", "url": "https://example.de/1"},
        {"title": "Zweiter Artikel", "text": "Der zweite Text über Wien.",
         "date": "2021-12-08T01:21:00Z", "source": "AFP", "url": "https://example.de/2"},
    ]
    lines = [json.dumps(rows[0], ensure_ascii=False), "", '{"title": "kaputt", "text": ',
             json.dumps(rows[1], ensure_ascii=False), '["keine", "Zeitung"]']
    path = tmp_path / "feed.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    items = list(read_path(path, MAX))
    articles = [i for i in items if isinstance(i, RawArticle)]
    skipped = [i for i in items if isinstance(i, Skipped)]
    assert [(a.key, a.title, a.text, a.date, a.source, a.url) for a in articles] == [
        ("L1", "Erster Artikel", "Der erste Text über Genf.", "2022-01-21", "dpa",
         "https://example.de/1"),
        ("L4", "Zweiter Artikel", "Der zweite Text über Wien.", "2021-12-08T01:21:00Z", "AFP",
         "https://example.de/2"),
    ]
    assert [(s.key, str(s)) for s in skipped] == [
        ("L3", f"{path}:3: invalid JSON (Expecting value)"),
        ("L5", f"{path}:5: no 'text' field (expected an object with text, title, ...)"),
    ]
    assert clean_article(articles[1].text, date_hint=articles[1].date).date == "2021-12-08"


@pytest.mark.parametrize("name", ["scan.pdf", "notes.docx", "README"])
def test_unknown_suffix_is_skipped_with_a_clear_message(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"%PDF-1.7 whatever")
    (item,) = read_path(path, MAX)
    assert isinstance(item, Skipped)
    assert item.reason.startswith("unsupported format")
    assert (path.suffix or name) in item.reason
    assert ".txt" in item.reason and ".html" in item.reason and ".jsonl" in item.reason


def test_empty_and_oversized_files_are_skipped_before_reading(tmp_path: Path) -> None:
    empty = tmp_path / "leer.txt"
    empty.write_bytes(b"")
    big = tmp_path / "gross.txt"
    big.write_bytes(b"Ein Satz. " * 1000)
    assert [str(i) for i in read_path(empty, MAX)] == [f"{empty}: empty file"]
    (item,) = read_path(big, 5000)
    assert isinstance(item, Skipped)
    assert "too large" in item.reason and "QA_MAX_FILE_MB" in item.reason


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Schöne Grüße aus Düsseldorf", "latin-1"),
        ("Die Bürger in Köln begrüßen die Änderungen. Über die Straße läuft alles.", "latin-1"),
        ("Die Bürger in Köln begrüßen die „Änderungen“ – wie üblich.", "cp1252"),
        ("Le café à Paris coûte 3 €, sagte der Österreicher.", "cp1252"),
    ],
)
def test_western_legacy_encodings_decode_correctly(text: str, encoding: str) -> None:
    assert decode(text.encode(encoding))[0] == text


def test_utf8_and_bom_and_binary() -> None:
    assert decode("Grüße".encode()) == ("Grüße", "utf-8")
    assert decode("\ufeffGrüße".encode()) == ("Grüße", "utf-8")
    with pytest.raises(ValueError, match="binary"):
        decode(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    cyrillic = "Россия и Украина ведут переговоры в Женеве."
    assert decode(cyrillic.encode("cp1251"))[0] == cyrillic  # not mistaken for Latin-1


def test_html_extractor_failure_is_a_one_line_skip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import trafilatura

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("parser\nexploded")

    monkeypatch.setattr(trafilatura, "bare_extraction", explode)
    path = tmp_path / "seite.html"
    path.write_text(HTML_PAGE, encoding="utf-8")
    (item,) = read_path(path, MAX)
    assert isinstance(item, Skipped)
    assert item.reason == "HTML extraction failed (RuntimeError: parser exploded)"


UNDATED_HTML = """<!doctype html><html lang="de"><head><title>Gasstreit: Kiew wartet</title>
</head><body><nav>Start | Politik</nav><article><h1>Gasstreit: Kiew wartet</h1>
<p>Die Ukraine verhandelt weiter über den Gastransit. Im Jahr 2021 hatte Moskau die Mengen
gedrosselt, seit 2014 ist das Verhältnis angespannt.</p>
<p>Ein Sprecher des Energieministeriums sagte, man rechne nicht mit einer schnellen Einigung
und bereite sich auf einen langen Winter vor.</p></article>
<footer>© 2021 Beispielverlag</footer></body></html>"""


def test_html_without_a_stated_date_stays_undated(tmp_path: Path) -> None:
    """A year in the story or the copyright line is not the article's date (was 2021-01-01)."""
    path = tmp_path / "gasstreit.html"
    path.write_text(UNDATED_HTML, encoding="utf-8")
    [item] = list(read_path(path, 5_000_000))
    assert isinstance(item, RawArticle) and "Gastransit" in item.text
    assert item.date is None
    assert clean_article(item.text, item.title, item.date, item.source).date is None


def test_html_metadata_date_is_still_read(tmp_path: Path) -> None:
    dated = UNDATED_HTML.replace(
        "</head>", '<meta property="article:published_time" content="2022-02-03T09:00:00+01:00">'
        "</head>")
    path = tmp_path / "gasstreit.html"
    path.write_text(dated, encoding="utf-8")
    [item] = list(read_path(path, 5_000_000))
    assert isinstance(item, RawArticle) and item.date == "2022-02-03"
