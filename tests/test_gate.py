"""The answer gate: the fitted file, its features, and the fallback for other models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.gate import DEFAULT_GATE_FILE, FEATURES, AnswerGate, FittedGate, features, load_fitted
from qa.schema import Hit
from qa.settings import Settings


def hit(text: str, dense: float | None) -> Hit:
    return Hit(chunk_id=1, article_id="a", ordinal=0, start=0, end=len(text), text=text,
               title="Titel", date=None, source=None, path="a.txt", score=0.1,
               dense_score=dense)


GERMAN = hit("Der russische Außenminister Lawrow forderte Sicherheitsgarantien von der Nato.", 0.9)


def test_the_shipped_gate_is_fitted_for_the_default_model() -> None:
    data = json.loads(DEFAULT_GATE_FILE.read_text(encoding="utf-8"))
    assert tuple(data["features"]) == FEATURES
    assert data["embed_model"] == Settings(_env_file=None).embed_model
    assert data["fitted"]["by"] == "scripts/fit_gate.py"
    assert data["report_half"], "the gate must be reported on questions it was not fitted on"
    fitted = load_fitted(DEFAULT_GATE_FILE)
    assert fitted is not None and 0 < fitted.threshold < 1


def test_features_ignore_word_coverage_across_languages() -> None:
    de = features("Was forderte Lawrow von der Nato?", [GERMAN])
    assert de["cross_lingual"] == 0.0 and de["coverage"] > 0.5 and de["top_cos"] == 0.9
    en = features("What did Lavrov demand from NATO?", [GERMAN])
    assert en["cross_lingual"] == 1.0 and en["coverage"] == 0.0


def test_key_coverage_counts_the_names_and_numbers_of_one_passage() -> None:
    nato = hit("Die Nato verlegte im Dezember 2021 Soldaten nach Rumänien.", 0.9)
    asked = "Wie viele Soldaten schickte die NATO im März 2022 nach Polen?"
    # Soldaten, NATO, März, 2022, Polen: two of five are there
    assert features(asked, [nato, GERMAN])["key_coverage"] == 0.4
    assert features("Wohin verlegte die Nato im Dezember 2021 Soldaten?",
                    [GERMAN, nato])["key_coverage"] == 1.0


def test_a_higher_cosine_never_lowers_the_probability() -> None:
    fitted = load_fitted(DEFAULT_GATE_FILE)
    assert fitted is not None
    values = {"top_cos": 0.80, "coverage": 0.5, "cross_lingual": 0.0, "key_coverage": 0.5}
    assert fitted.probability({**values, "top_cos": 0.9}) > fitted.probability(values)
    assert fitted.probability({**values, "coverage": 1.0}) > fitted.probability(values)
    assert fitted.probability({**values, "key_coverage": 1.0}) > fitted.probability(values)


def test_other_models_fall_back_to_word_coverage(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, embed_model="some/other-model", refuse_below=0.5)
    gate = AnswerGate(settings)
    assert gate.fitted is None
    ok = gate.decide("Was forderte Lawrow von der Nato?", [GERMAN])
    assert ok.method == "coverage" and ok.answerable
    assert not gate.decide("Wer gewann die Fußball-WM 2014?", [GERMAN]).answerable
    assert not gate.decide("Was forderte Lawrow?", []).answerable


def test_a_gate_file_with_other_features_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "gate.json"
    path.write_text(json.dumps({"features": ["x"], "weights": [1], "bias": 0, "threshold": 0.5,
                                "embed_model": "m"}), encoding="utf-8")
    with pytest.raises(ValueError, match="features"):
        load_fitted(path)


def test_probability_is_the_logistic_of_the_weighted_sum() -> None:
    gate = FittedGate("m", (10.0, 1.0, -1.0, 2.0), -9.0, 0.5)
    assert gate.probability({"top_cos": 0.8, "coverage": 0.0, "cross_lingual": 0.0,
                             "key_coverage": 0.5}) == 0.5
