"""What a question asks for, and whether a sentence holds it (a signal of the answer gate)."""

from __future__ import annotations

import pytest

from qa.answer_type import expected_type, has_type


@pytest.mark.parametrize(("question", "kind"), [
    ("Wann begann der russische Einmarsch in die Ukraine?", "date"),
    ("In welchem Jahr wurde die Pipeline gebaut?", "date"),
    ("When did the Normans conquer England?", "date"),
    ("Wie viele Menschen leben im Donbass?", "number"),
    ("Wie hoch ist der Eiffelturm?", "number"),
    ("How many soldiers were sent?", "number"),
    ("Wer leitete die russische Delegation?", "person"),
    ("Wo trafen sich Blinken und Lawrow?", "place"),
    ("Was forderte Lawrow von der Nato?", None),
    ("Why did the talks fail?", None),
])
def test_the_question_word_says_what_is_asked(question: str, kind: str | None) -> None:
    assert expected_type(question) == kind


def test_a_date_or_number_the_question_names_itself_does_not_count() -> None:
    asked = "Wie viele Soldaten verlegte die Nato 2021 nach Rumänien?"
    assert not has_type("Die Nato verlegte 2021 Soldaten nach Rumänien.", "number", asked)
    assert has_type("Die Nato verlegte 2021 rund 4.000 Soldaten nach Rumänien.", "number", asked)
    assert has_type("Sie schickte zweitausend Soldaten.", "number", asked)
    assert not has_type("Im Donbass leben viele Menschen.", "number",
                        "Wie viele Menschen leben im Donbass?")


def test_dates_are_years_days_and_months() -> None:
    asked = "Wann wurde die Pipeline in Betrieb genommen?"
    assert has_type("Sie ging am 8. Dezember in Betrieb.", "date", asked)
    assert has_type("Sie ging 2011 in Betrieb.", "date", asked)
    assert has_type("Sie ging im März in Betrieb.", "date", asked)
    assert not has_type("Sie ging nach langem Streit in Betrieb.", "date", asked)


def test_names_and_places_are_not_checked() -> None:
    with pytest.raises(ValueError, match="dates and numbers"):
        has_type("Olexij Resnikow sagte das.", "person")


@pytest.mark.parametrize(("question", "kind"), [
    ("What is it called when there is an active attempt to overthrow a government?", None),
    ("How many seconds were left when the Patriots failed?", "number"),
    ("Seit wann gibt es das Abkommen?", "date"),
    ("In welchem Jahr wurde es geschlossen?", "date"),
])
def test_only_a_leading_question_word_sets_the_type_of_a_quote(question: str, kind: str) -> None:
    assert expected_type(question, leading=True) == kind


def test_fractions_written_as_words_are_numbers() -> None:
    for sentence in ("Sie sprachen anderthalb Stunden.", "Es dauerte eineinhalb Tage."):
        assert has_type(sentence, "number", "Wie lange dauerte es?")


def test_quotes_must_give_the_figure_asked_for() -> None:
    from qa.extractive import missing_figure
    from qa.schema import AnswerSentence

    def quotes(*texts: str) -> list[AnswerSentence]:
        return [AnswerSentence(t, [], verified=True) for t in texts]

    asked = "Wie viele Menschen leben im Donbass?"
    assert missing_figure(asked, quotes("Im Donbass leben viele russische Staatsbürger.")) == (
        "number")
    assert missing_figure(asked, quotes("Im Donbass leben viele.", "Dort leben 3,5 Millionen.")
                          ) is None
    assert missing_figure("Was fordert Lawrow?", quotes("Lawrow fordert Garantien.")) is None
    assert missing_figure("Wann trafen sie sich?", quotes("Sie trafen sich in Genf.")) == "date"


def test_an_early_year_counts_where_something_says_it_is_one() -> None:
    asked = "Wann wurde der Staat Rus am Dnepr gegründet?"
    assert has_type("* ca. 750: Skandinavische Siedlung in Staraja Ladoga.", "date", asked)
    assert has_type("Im Jahr 882 wurde Kiew Hauptstadt.", "date", asked)
    assert not has_type("Die Siedlung hatte 750 Einwohner.", "date", asked)
    assert not has_type("Die Preise stiegen um 20 Prozent in 50 Ländern.", "date", asked)
    assert has_type("Die Erwärmung begann vor etwa 13.000 Jahren.", "date", asked)
    assert has_type("Rapid warming began about 13,000 years ago.", "date", asked)
    assert not has_type("Vor dem Rathaus standen 13.000 Menschen.", "date", asked)
    assert has_type("Die Erwärmung begann etwa 13.000 BP.", "date", asked)
