"""Loading and validating question sets for the evaluation.

Two JSONL formats load into the same `TestCase`:

* the project's scripted set (`data/testset.jsonl`): `id`, `question`, `answers`, `doc` and
  `context` (a string, or parallel lists for questions that need two articles), `tags`,
  optional `unanswerable` and `history`;
* the external benchmarks in `shared/bench/*/questions.jsonl`: the same core fields with
  `doc`/`context` as strings; their extra fields (title, para_index, ...) are ignored.

Errors name the file and line, because a silently skipped or misread gold answer skews
every number computed from it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "KNOWN_TAGS",
    "TestCase",
    "TestsetError",
    "load_testset",
    "parse_case",
    "sample",
]

#: Tags the scripted set uses; the loader accepts others, the tests pin the scripted set to these.
KNOWN_TAGS = frozenset(
    {
        "who",
        "what",
        "when",
        "where",
        "how-many",
        "why",
        "multi-doc",
        "unanswerable",
        "follow-up",
        "date",
        "number",
    }
)
_ROLES = frozenset({"user", "assistant"})


class TestsetError(ValueError):
    """A malformed test set line; the message starts with `file:line:`."""

    __test__ = False  # keep pytest from collecting this as a test class


@dataclass
class TestCase:
    """One question with its gold answers and the passages that support them.

    `docs` and `contexts` are parallel when both are given: `contexts[i]` is an exact
    passage of article `docs[i]`. A question answerable from either of two articles lists
    both; `"multi-doc" in tags` marks questions that need both.
    """

    __test__ = False  # not a pytest test class despite the name

    id: str
    question: str
    answers: list[str] = field(default_factory=list)
    docs: list[str] = field(default_factory=list)
    contexts: list[str] = field(default_factory=list)
    unanswerable: bool = False
    tags: list[str] = field(default_factory=list)
    history: list[dict[str, str]] = field(default_factory=list)
    origin: str = ""  # "file:line" it was read from, for error messages and reports

    @property
    def is_multi_doc(self) -> bool:
        return "multi-doc" in self.tags

    @property
    def is_follow_up(self) -> bool:
        return bool(self.history)


def _str_or_list(value: Any, name: str, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise TestsetError(f"{where}: '{name}' must be a string or a list of strings")


def parse_case(obj: Any, where: str = "<input>") -> TestCase:
    """Validate one decoded JSON object and turn it into a `TestCase`.

    `where` ("file:line") prefixes every error message.
    """
    if not isinstance(obj, dict):
        raise TestsetError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    case_id = obj.get("id")
    if case_id is None or (isinstance(case_id, str) and not case_id.strip()):
        raise TestsetError(f"{where}: missing 'id'")
    if not isinstance(case_id, str | int) or isinstance(case_id, bool):
        raise TestsetError(f"{where}: 'id' must be a string or an integer")
    question = obj.get("question")
    if not isinstance(question, str) or not question.strip():
        raise TestsetError(f"{where}: missing or empty 'question'")

    unanswerable = obj.get("unanswerable", False)
    if not isinstance(unanswerable, bool):
        raise TestsetError(f"{where}: 'unanswerable' must be true or false")
    answers = [a for a in _str_or_list(obj.get("answers"), "answers", where) if a.strip()]
    # xquad-en: English questions over German text; an answer in either language counts
    answers += [a for a in _str_or_list(obj.get("answers_en"), "answers_en", where)
                if a.strip() and a not in answers]
    if unanswerable and answers:
        raise TestsetError(f'{where}: an unanswerable question must have "answers": []')
    if not unanswerable and not answers:
        raise TestsetError(f"{where}: answerable question has no answers")

    docs = _str_or_list(obj.get("doc"), "doc", where)
    contexts = _str_or_list(obj.get("context"), "context", where)
    if contexts and len(docs) != len(contexts):
        raise TestsetError(
            f"{where}: 'doc' and 'context' must be parallel ({len(docs)} docs, "
            f"{len(contexts)} contexts)"
        )

    tags = _str_or_list(obj.get("tags"), "tags", where)
    history_raw = obj.get("history") or []
    if not isinstance(history_raw, list):
        raise TestsetError(f"{where}: 'history' must be a list of turns")
    history: list[dict[str, str]] = []
    for n, turn in enumerate(history_raw, start=1):
        if (
            not isinstance(turn, dict)
            or turn.get("role") not in _ROLES
            or not isinstance(turn.get("content"), str)
        ):
            raise TestsetError(
                f'{where}: history turn {n} must be {{"role": "user"|"assistant", '
                f'"content": "..."}}'
            )
        history.append({"role": turn["role"], "content": turn["content"]})

    return TestCase(
        id=str(case_id),
        question=question.strip(),
        answers=answers,
        docs=docs,
        contexts=contexts,
        unanswerable=unanswerable,
        tags=tags,
        history=history,
        origin=where,
    )


def load_testset(path: str | Path) -> list[TestCase]:
    """Read a JSONL question set (scripted or bench format); blank lines are skipped.

    `path` may also be a bench folder holding `questions.jsonl`. Ids must be unique.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "questions.jsonl"
    cases: list[TestCase] = []
    seen: dict[str, str] = {}
    with path.open(encoding="utf-8-sig") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TestsetError(
                    f"{where}: invalid JSON: {exc.msg} (column {exc.colno})"
                ) from exc
            case = parse_case(obj, where)
            if case.id in seen:
                raise TestsetError(f"{where}: duplicate id {case.id!r} (first at {seen[case.id]})")
            seen[case.id] = where
            cases.append(case)
    return cases


def sample(cases: Sequence[TestCase], n: int | None, seed: int = 0) -> list[TestCase]:
    """A reproducible random subset of `n` cases, kept in file order.

    For "answers on a sample of 100": the same seed gives the same questions on every run
    and machine. `n=None` or `n >= len(cases)` returns all cases.
    """
    if n is None or n >= len(cases):
        return list(cases)
    if n < 0:
        raise ValueError(f"sample size must be >= 0, got {n}")
    picked = sorted(random.Random(seed).sample(range(len(cases)), n))
    return [cases[i] for i in picked]
