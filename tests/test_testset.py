"""Tests for qa.evaluation.testset and for the scripted test set in data/testset.jsonl."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from qa.evaluation.metrics import contains_answer
from qa.evaluation.testset import (
    KNOWN_TAGS,
    TestCase,
    TestsetError,
    load_testset,
    parse_case,
    sample,
)

ROOT = Path(__file__).resolve().parents[1]
TESTSET = ROOT / "data" / "testset.jsonl"
ARTICLES = ROOT / "data" / "articles"
BENCH = ROOT.parent / "shared" / "bench"


def _write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- loader ----------------------------------------------------------------------------------


def test_loads_scripted_format_with_lists_and_history(tmp_path: Path) -> None:
    rows = [
        {
            "id": "s01",
            "question": "Wie lange dauerte es?",
            "answers": ["gut zwei Stunden"],
            "doc": "a.txt",
            "context": "gut zwei Stunden gesprochen.",
            "tags": ["how-many", "follow-up"],
            "history": [
                {"role": "user", "content": "Worum ging es beim Videogipfel?"},
                {"role": "assistant", "content": "Um die Ukraine."},
            ],
        },
        {
            "id": "m01",
            "question": "Wo trafen sie sich?",
            "answers": ["Genf"],
            "doc": ["a.txt", "b.txt"],
            "context": ["in Genf", "am Genfersee"],
            "tags": ["multi-doc"],
        },
        {"id": "u01", "question": "Was geschah 2023?", "answers": [], "unanswerable": True},
    ]
    path = _write(tmp_path, *(json.dumps(r, ensure_ascii=False) for r in rows), "")
    cases = load_testset(path)
    assert [c.id for c in cases] == ["s01", "m01", "u01"]
    first, multi, unans = cases
    assert first.docs == ["a.txt"] and first.contexts == ["gut zwei Stunden gesprochen."]
    assert first.is_follow_up and first.history[1]["role"] == "assistant"
    assert multi.docs == ["a.txt", "b.txt"] and multi.is_multi_doc
    assert unans.unanswerable and unans.answers == [] and unans.docs == []
    assert not unans.is_follow_up
    assert first.origin.endswith("q.jsonl:1")


def test_loads_bench_format_and_ignores_extra_fields(tmp_path: Path) -> None:
    row = {
        "id": 36704,
        "question": "Frage?",
        "answers": ["Antwort"],
        "doc": "x.txt",
        "context": "Die Antwort steht hier.",
        "title": "X",
        "para_index": 0,
        "answer_starts": [4],
        "n_paragraphs_with_answer": 1,
        "n_docs_with_answer": 1,
    }
    (case,) = load_testset(_write(tmp_path, json.dumps(row)))
    assert case.id == "36704"
    assert (case.docs, case.contexts) == (["x.txt"], ["Die Antwort steht hier."])
    assert not case.unanswerable and case.tags == [] and case.history == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "a", "question": "Q?", "answers": ["x"]', "invalid JSON"),
        ('["not", "an", "object"]', "expected a JSON object"),
        ('{"id": "a", "answers": ["x"]}', "missing or empty 'question'"),
        ('{"id": "a", "question": "  ", "answers": ["x"]}', "missing or empty 'question'"),
        ('{"question": "Q?", "answers": ["x"]}', "missing 'id'"),
        ('{"id": "a", "question": "Q?", "answers": []}', "answerable question has no answers"),
        ('{"id": "a", "question": "Q?"}', "answerable question has no answers"),
        ('{"id": "a", "question": "Q?", "answers": ["x"], "unanswerable": true}', "unanswerable"),
        ('{"id": "a", "question": "Q?", "answers": [1]}', "'answers' must be"),
        (
            '{"id": "a", "question": "Q?", "answers": ["x"], "doc": ["d1", "d2"], "context": "c"}',
            "parallel",
        ),
        (
            '{"id": "a", "question": "Q?", "answers": ["x"], "history": [{"role": "bot", '
            '"content": "hi"}]}',
            "history turn 1",
        ),
        ('{"id": "a", "question": "Q?", "answers": ["x"], "unanswerable": "yes"}', "true or false"),
    ],
)
def test_validation_errors_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    good = '{"id": "ok", "question": "Q?", "answers": ["x"]}'
    path = _write(tmp_path, good, "", line)
    with pytest.raises(TestsetError) as info:
        load_testset(path)
    text = str(info.value)
    assert text.startswith(f"{path}:3:"), text
    assert message in text


def test_duplicate_ids_are_rejected(tmp_path: Path) -> None:
    line = '{"id": "a", "question": "Q?", "answers": ["x"]}'
    path = _write(tmp_path, line, line)
    with pytest.raises(TestsetError, match=r":2: duplicate id 'a' \(first at .*:1\)"):
        load_testset(path)


def test_parse_case_defaults_where() -> None:
    with pytest.raises(TestsetError, match=r"^<input>: missing 'id'"):
        parse_case({"question": "Q?", "answers": ["x"]})


def test_sample_is_reproducible_and_ordered() -> None:
    cases = [TestCase(id=str(i), question="q", answers=["a"]) for i in range(50)]
    a = sample(cases, 10, seed=1)
    assert [c.id for c in a] == [c.id for c in sample(cases, 10, seed=1)]
    assert len(a) == 10 and len({c.id for c in a}) == 10
    assert [int(c.id) for c in a] == sorted(int(c.id) for c in a)
    assert [c.id for c in a] != [c.id for c in sample(cases, 10, seed=2)]
    assert sample(cases, None) == cases and sample(cases, 500) == cases
    assert sample(cases, 0) == []
    with pytest.raises(ValueError):
        sample(cases, -1)


def test_real_germanquad_line_loads(tmp_path: Path) -> None:
    source = BENCH / "germanquad" / "questions.jsonl"
    if not source.is_file():
        pytest.skip(f"{source} not present")
    with source.open(encoding="utf-8") as fh:
        first_line = fh.readline()
    raw = json.loads(first_line)
    (case,) = load_testset(_write(tmp_path, first_line.rstrip("\n")))
    assert case.id == str(raw["id"])
    assert case.answers == raw["answers"]
    assert case.docs == [raw["doc"]] and case.contexts == [raw["context"]]
    # the bench promises the context is exactly the paragraph in the corpus file
    corpus_file = BENCH / "germanquad" / "corpus" / raw["doc"]
    if corpus_file.is_file():
        assert case.contexts[0] in corpus_file.read_text(encoding="utf-8")


def test_whole_bench_folders_load() -> None:
    folders = sorted(p.parent for p in BENCH.glob("*/questions.jsonl"))
    if not folders:
        pytest.skip(f"no bench question sets under {BENCH}")
    for folder in folders:
        cases = load_testset(folder)  # a folder resolves to its questions.jsonl
        assert cases, folder
        assert all(c.answers and len(c.docs) == 1 == len(c.contexts) for c in cases)


# --- the scripted test set -------------------------------------------------------------------


@pytest.fixture(scope="module")
def scripted() -> list[TestCase]:
    return load_testset(TESTSET)


def test_scripted_set_meets_category_minimums(scripted: list[TestCase]) -> None:
    assert len(scripted) >= 45
    assert sum(c.is_multi_doc for c in scripted) >= 6
    assert sum(c.unanswerable for c in scripted) >= 9
    assert sum(c.is_follow_up for c in scripted) >= 6
    for kind in ("who", "what", "when", "where", "how-many", "why"):
        assert sum(kind in c.tags for c in scripted if not c.unanswerable) >= 3, kind
    per_article = Counter(d for c in scripted for d in c.docs)
    assert set(per_article) == {p.name for p in ARTICLES.glob("*.txt")}
    assert min(per_article.values()) >= 5


def test_scripted_set_tags_are_consistent(scripted: list[TestCase]) -> None:
    for case in scripted:
        assert set(case.tags) <= KNOWN_TAGS, case.id
        assert ("unanswerable" in case.tags) == case.unanswerable, case.id
        assert ("follow-up" in case.tags) == case.is_follow_up, case.id
        if case.is_multi_doc:
            assert len(set(case.docs)) >= 2, case.id
        if case.history:
            assert case.history[-1]["role"] == "assistant", case.id


def test_scripted_contexts_are_exact_substrings_of_their_articles(scripted: list[TestCase]) -> None:
    texts = {p.name: p.read_text(encoding="utf-8") for p in ARTICLES.glob("*.txt")}
    for case in scripted:
        if case.unanswerable:
            assert not case.answers, case.id
            continue
        assert case.docs and len(case.docs) == len(case.contexts), case.id
        for doc, context in zip(case.docs, case.contexts, strict=True):
            assert doc in texts, (case.id, doc)
            assert context in texts[doc], (case.id, doc, context[:60])
            assert "Copyright" not in context and "Newsletter" not in context, case.id


def test_scripted_answers_occur_in_their_contexts(scripted: list[TestCase]) -> None:
    for case in scripted:
        for answer in case.answers:
            # every acceptable answer is findable by the matcher the evaluation uses
            assert any(contains_answer(ctx, [answer]) for ctx in case.contexts), (case.id, answer)


def test_english_gold_spans_count_for_cross_lingual_questions() -> None:
    from qa.evaluation.testset import parse_case

    case = parse_case({"id": "x", "question": "When was it built?", "answers": ["1886"],
                       "answers_en": ["in 1886", "1886"]})
    assert case.answers == ["1886", "in 1886"]
