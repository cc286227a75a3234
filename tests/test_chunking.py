"""German sentence splitting and token-budgeted chunking, measured with the real tokenizer."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from qa.chunking import ChunkerConfig, chunk_article, split_sentences
from qa.cleaning import Cleaned, clean_article
from qa.embedding import Embedder, passage_text
from qa.reading import RawArticle, read_path
from qa.schema import Chunk

SAMPLES = sorted((Path(__file__).resolve().parents[1] / "data" / "articles").glob("*.txt"))


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


# --- sentence splitting ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Er traf Dr. Müller am Montag in Berlin.",
        "Große Städte wie z. B. Berlin sind teuer.",
        "Das Büro liegt im Haus Nr. 5 an der Hauptstraße.",
        "Das Treffen findet am 21. Januar in Genf statt.",
        "Biden und Putin hatten zuletzt am 7. Dezember ein Videotelefonat geführt.",
        "Am 21.01.2022 trafen sich Blinken und Lawrow in Genf.",
        "An der Grenze stehen 100 000 russische Soldaten.",
        "Die Ukraine soll mehr als 120.000 Soldaten verlegt haben.",
        "Außenminister Antony J. Blinken sagte am Donnerstag etwas.",
        "Präsident Donald J. Trump hatte das Abkommen 2018 aufgegeben.",
        "Er sagte: „Wir gehen jetzt. Morgen kommen wir wieder.“",
        'Er sagte: "Wir gehen jetzt. Morgen kommen wir wieder."',
        "Blinken rief: “Der beste Weg ist die Diplomatie. Wir sind bereit.”",
        "Der Ort liegt ca. 20 km entfernt, vgl. Abs. 3 der Regel.",
    ],
)
def test_no_split_inside(text: str) -> None:
    assert sentences(text) == [text]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Moskau weist dies zurück. Die Lage bleibt angespannt! Wie geht es weiter? Offen.",
            ["Moskau weist dies zurück.", "Die Lage bleibt angespannt!", "Wie geht es weiter?",
             "Offen."],
        ),
        (
            "Er sagte: „Wir gehen. Morgen kommen wir.“ Dann verließ er den Saal.",
            ["Er sagte: „Wir gehen. Morgen kommen wir.“", "Dann verließ er den Saal."],
        ),
        (
            'Sullivan sagte: "Es war ein nützliches Meeting." Das Gespräch dauerte zwei Stunden.',
            ['Sullivan sagte: "Es war ein nützliches Meeting."',
             "Das Gespräch dauerte zwei Stunden."],
        ),
        (
            "Moskau verhängte die Obergrenze im Jahr 2018. Die Präsenz schrumpfte seither.",
            ["Moskau verhängte die Obergrenze im Jahr 2018.", "Die Präsenz schrumpfte seither."],
        ),
        (
            "Er traf Dr. Müller. Danach sprach er mit Prof. Schmidt.",
            ["Er traf Dr. Müller.", "Danach sprach er mit Prof. Schmidt."],
        ),
        (
            "Erster Absatz ohne Punkt\n\nZweiter Absatz. Mit zwei Sätzen.",
            ["Erster Absatz ohne Punkt", "Zweiter Absatz.", "Mit zwei Sätzen."],
        ),
        (
            # a stray closing quote (no opening one) must not glue the paragraph together
            'Das ist ein Druckmittel des Westens", sagte Sullivan. Er sprach leise. Dann ging er.',
            ['Das ist ein Druckmittel des Westens", sagte Sullivan.', "Er sprach leise.",
             "Dann ging er."],
        ),
    ],
)
def test_splits_at_sentence_ends(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_spans_index_the_text_and_exclude_whitespace() -> None:
    text = "  Erster Satz.   Zweiter Satz!\n\n  Dritter Satz?  "
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == ["Erster Satz.", "Zweiter Satz!", "Dritter Satz?"]
    assert all(s < e for s, e in spans)
    assert spans == sorted(spans)


def test_real_article_sentences() -> None:
    text = cleaned(SAMPLES[3]).text  # 003: "Antony J. Blinken", „...“ quotes, "im Jahr 2018."
    found = sentences(text)
    assert (
        "WASHINGTON – Außenminister Antony J. Blinken sagte am Donnerstag, Präsident Biden werde "
        "„in naher Zukunft“ „wahrscheinlich“ direkt mit dem russischen Präsidenten Wladimir V. "
        "Putin sprechen,"
    ) in found[0]
    assert found[0].endswith("eine russische Invasion der Ukraine sein.")
    assert "Herr Lawrow kam mit seinen eigenen Drohungen." in found
    assert any(s.endswith("im Jahr 2018 verhängt hatte.") for s in found)
    assert all(not s.startswith(("J.", "V.", "Blinken sagte am")) for s in found)


# --- chunking ------------------------------------------------------------------------------


def cleaned(path: Path) -> Cleaned:
    (raw,) = read_path(path, 10_000_000)
    assert isinstance(raw, RawArticle)
    return clean_article(raw.text, raw.title, raw.date, raw.source)


def chunks_of(embedder: Embedder, title: str, text: str, max_tokens: int) -> list[Chunk]:
    return chunk_article("a", title, text, embedder.count_tokens, ChunkerConfig(max_tokens, 1))


@pytest.mark.parametrize("max_tokens", [200, 64])
@pytest.mark.parametrize("path", SAMPLES, ids=[p.name[:3] for p in SAMPLES])
def test_sample_chunks_have_exact_offsets_and_fit_the_model(
    embedder: Embedder, path: Path, max_tokens: int
) -> None:
    article = cleaned(path)
    chunks = chunks_of(embedder, article.title, article.text, max_tokens)
    assert len(chunks) >= 2
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert article.text[chunk.start:chunk.end] == chunk.text
        assert chunk.text == chunk.text.strip() and chunk.text
        # what gets embedded (title + passage) fits, with the model's [CLS] and [SEP]
        tokens = embedder.count_tokens(passage_text(article.title, chunk.text)) + 2
        assert tokens <= max_tokens <= embedder.max_tokens
    # together the chunks cover every sentence of the article, in order
    assert chunks[0].start == split_sentences(article.text)[0][0]
    assert chunks[-1].end == len(article.text)
    for a, b in pairwise(chunks):
        assert a.start < b.start and a.end < b.end  # each chunk adds text
        assert article.text[a.end:b.start].strip() == ""  # and none leaves a gap


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name[:3] for p in SAMPLES])
def test_sample_chunks_overlap_by_one_sentence(embedder: Embedder, path: Path) -> None:
    article = cleaned(path)
    spans = split_sentences(article.text)
    starts = {s for s, _ in spans}
    chunks = chunks_of(embedder, article.title, article.text, 200)
    budget = 200 - embedder.count_tokens(article.title) - 2
    overlapping = 0
    for a, b in pairwise(chunks):
        last = next(s for s in spans if s[1] == a.end)  # chunks end at sentence ends here
        assert b.start in starts
        if b.start == last[0]:
            overlapping += 1
            continue
        # the only excuse for no overlap: that sentence and the next do not fit together
        nxt = next(s for s in spans if s[0] == b.start)
        assert b.start > a.end
        assert embedder.count_tokens(article.text[last[0]:nxt[1]]) > budget
    assert overlapping >= 0.8 * (len(chunks) - 1)


def test_consecutive_chunks_share_exactly_one_sentence(embedder: Embedder) -> None:
    text = " ".join(f"Das ist der Satz Nummer {n} über die Lage in Genf." for n in range(1, 25))
    chunks = chunks_of(embedder, "Titel", text, 64)
    assert len(chunks) >= 4
    for a, b in pairwise(chunks):
        assert sentences(a.text)[-1] == sentences(b.text)[0]
        assert len(set(sentences(a.text)) & set(sentences(b.text))) == 1
    assert {s for c in chunks for s in sentences(c.text)} == set(sentences(text))


def test_no_chunk_only_repeats_the_previous_ones_tail(embedder: Embedder) -> None:
    """Long sentences: the overlap must shrink rather than make a chunk of repeated text."""
    long = "Das Treffen der beiden Außenminister in Genf dauerte anderthalb Stunden und " * 3
    text = " ".join(f"{long}endete mit Satz {n}." for n in range(8))
    chunks = chunks_of(embedder, "Titel", text, 120)
    assert len(chunks) >= 4
    for a, b in pairwise(chunks):
        assert b.end > a.end


def test_overlong_sentence_is_cut_at_word_gaps(embedder: Embedder) -> None:
    words = [f"Wort{n}" for n in range(300)]
    text = "Kurzer Satz vorab. " + " ".join(words) + ". Kurzer Satz danach."
    title = "Ein ziemlich langer Titel über die Verhandlungen zwischen Russland und der Nato"
    chunks = chunks_of(embedder, title, text, 64)
    assert len(chunks) >= 5
    for chunk in chunks:
        assert text[chunk.start:chunk.end] == chunk.text
        assert embedder.count_tokens(passage_text(title, chunk.text)) + 2 <= 64
        assert not chunk.text.startswith(" ") and not chunk.text.endswith(" ")
    covered = {w for c in chunks for w in c.text.replace(".", " ").split()}
    assert set(words) <= covered  # nothing lost where the sentence was cut
    assert chunks[-1].text.endswith("Kurzer Satz danach.")


def test_longer_title_leaves_less_room(embedder: Embedder) -> None:
    text = " ".join(f"Das ist der Satz Nummer {n} über die Lage in Genf." for n in range(1, 25))
    short = chunks_of(embedder, "Genf", text, 100)
    long = chunks_of(embedder, "Genf " * 40, text, 100)
    assert len(long) > len(short)
    for chunk in long:
        assert embedder.count_tokens(passage_text("Genf " * 40, chunk.text)) + 2 <= 100


def test_empty_text_gives_no_chunks(embedder: Embedder) -> None:
    assert chunks_of(embedder, "Titel", "", 200) == []
    assert chunks_of(embedder, "Titel", " \n\n ", 200) == []
