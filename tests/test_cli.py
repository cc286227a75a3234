"""`qa index` and `qa search` through `qa.cli.main`, and their one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import qa.indexing
from qa.cli import main
from qa.embedding import Embedder
from qa.settings import Settings
from qa.store import current_folder

ROOT = Path(__file__).resolve().parents[1]


def write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


@pytest.fixture
def articles(tmp_path: Path) -> Path:
    folder = tmp_path / "articles"
    write(folder, "lawrow.txt",
          "Lawrow stellt Forderungen\n\nFreitag, 21.01.2022 15:41 von dpa-AFX\n\n"
          "Der russische Außenminister Sergej Lawrow forderte langfristige "
          "Sicherheitsgarantien für die russische Westgrenze. Die Nato lehnt das ab.\n")
    write(folder, "scholz.md",
          "# Scholz in Washington\n\nBundeskanzler Olaf Scholz traf Präsident Biden im "
          "Weißen Haus. Beide sprachen über die Gaspipeline Nord Stream 2.\n")
    return folder


def test_index_then_search_json(
    tmp_path: Path, articles: Path, use_shared_embedder: Embedder,
    capsys: pytest.CaptureFixture[str],
) -> None:
    index_dir = tmp_path / "index"
    assert main(["index", str(articles), "--index-dir", str(index_dir), "-q"]) == 0
    out = capsys.readouterr().out
    assert "2 articles added, 0 updated, 0 removed, 0 unchanged; 0 files skipped; 2 chunks" in out
    assert "Index: 2 articles, 2 chunks" in out
    assert current_folder(index_dir) is not None

    assert main(["search", "Was fordert Lawrow?", "--index-dir", str(index_dir), "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert isinstance(hits, list) and len(hits) == 2
    first = hits[0]
    assert first["title"] == "Lawrow stellt Forderungen"
    assert first["date"] == "2022-01-21" and first["source"] == "dpa-AFX"
    assert first["text"].startswith("Der russische Außenminister Sergej Lawrow forderte")
    assert first["path"] == str(articles / "lawrow.txt")
    assert {"chunk_id", "article_id", "start", "end", "score", "dense_rank", "bm25_rank"} <= set(
        first
    )

    # a second `qa index` (no folder: the indexed one is remembered) has nothing to do
    assert main(["index", "--index-dir", str(index_dir), "-q", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["published"] is False and report["articles_unchanged"] == 2


def test_index_flags_reach_the_settings(
    tmp_path: Path, articles: Path, use_shared_embedder: Embedder,
    capsys: pytest.CaptureFixture[str],
) -> None:
    index_dir = tmp_path / "index"
    main(["index", str(articles), "--index-dir", str(index_dir), "-q"])
    capsys.readouterr()
    code = main(["index", "--index-dir", str(index_dir), "-q", "--chunk-tokens", "64"])
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("Full rebuild: chunker settings changed")
    manifest = json.loads((current_folder(index_dir) / "manifest.json").read_text())  # type: ignore[operator]
    assert manifest["chunker"]["max_tokens"] == 64


def test_search_the_samples_with_filters(
    sample_index: Settings, use_shared_embedder: Embedder, capsys: pytest.CaptureFixture[str]
) -> None:
    index = ["--index-dir", str(sample_index.index_dir)]
    assert main(["search", "Was fordert Lawrow?", *index, "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 5
    assert "langfristige Sicherheitsgarantien" in hits[0]["text"]

    assert main(["search", "Ukraine", *index, "--json", "-k", "20", "--source", "dpa-AFX"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits and {h["source"] for h in hits} == {"dpa-AFX"}

    code = main(["search", "Ukraine", *index, "--json", "-k", "20", "--date-from", "21.01.2022"])
    assert code == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits and {h["date"] for h in hits} == {"2022-01-21"}

    assert main(["search", "Was fordert Lawrow?", *index, "-k", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("[1] Spitzengespräch zwischen Biden und Putin über Ukraine-Konflikt "
                          "zeichnet sich ab (AFP)  score ")
    assert "[2] " in out and "[3] " not in out
    assert main(["search", "Was fordert Lawrow?", *index, "-k", "2", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert any("langfristige Sicherheitsgarantien" in h["text"] for h in hits)


def test_search_with_a_date_filter_says_what_it_left_out(
    sample_index: Settings, use_shared_embedder: Embedder, capsys: pytest.CaptureFixture[str]
) -> None:
    index = ["--index-dir", str(sample_index.index_dir)]
    assert main(["search", "Lawrow", *index, "--from", "2021-12-01", "--to", "2021-12-31"]) == 0
    err = capsys.readouterr().err
    assert err == ("Searched 2 of 5 articles (dated 2021-12-01 to 2021-12-31); 2 undated "
                   "articles left out (their date is unknown). Add --include-undated to "
                   "search them too.\n")
    assert main(["search", "Lawrow", *index, "--from", "Dezember 2021", "--to", "Dezember 2021",
                 "--include-undated", "--json"]) == 0
    captured = capsys.readouterr()
    assert "undated articles included" in captured.err
    assert any(h["date"] is None for h in json.loads(captured.out))
    assert main(["search", "Lawrow", *index, "--from", "2021-11-01", "--to", "2021-11-30"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "No passages found.\n"
    assert captured.err.startswith("No article matches the filter: none of the 5 indexed "
                                   "articles is dated 2021-11-01 to 2021-11-30.")


def test_search_with_an_unreadable_date_is_a_one_line_error(
    sample_index: Settings, use_shared_embedder: Embedder, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["search", "Ukraine", "--index-dir", str(sample_index.index_dir),
                 "--date-from", "gestern"])
    assert code == 2
    err = capsys.readouterr().err
    assert err == "error: Cannot read the date 'gestern': use YYYY-MM-DD or YYYY-MM\n"


def test_search_without_an_index_exits_2_and_says_qa_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index_dir = tmp_path / "nirgends"
    assert main(["search", "Was fordert Lawrow?", "--index-dir", str(index_dir)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"error: No index in {index_dir}/. Build it with: qa index\n"


def test_search_on_a_damaged_index_exits_2_and_says_rebuild(
    tmp_path: Path, articles: Path, use_shared_embedder: Embedder,
    capsys: pytest.CaptureFixture[str],
) -> None:
    index_dir = tmp_path / "index"
    main(["index", str(articles), "--index-dir", str(index_dir), "-q"])
    live = current_folder(index_dir)
    assert live is not None
    (live / "dense.faiss").write_bytes(b"\x00" * 10)
    capsys.readouterr()
    assert main(["search", "Lawrow", "--index-dir", str(index_dir)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: The index in {index_dir}/ is damaged (")
    assert err.endswith("Rebuild it with: qa index --rebuild\n") and err.count("\n") == 1


def test_index_of_a_missing_folder_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["index", str(tmp_path / "gibtsnicht"), "--index-dir", str(tmp_path / "i"), "-q"])
    assert code == 2
    assert capsys.readouterr().err == (
        f"error: No such file or folder: {tmp_path / 'gibtsnicht'}\n"
    )


def test_ctrl_c_during_index_exits_130_with_a_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(qa.indexing, "build_index", interrupted)
    assert main(["index", str(tmp_path), "--index-dir", str(tmp_path / "i"), "-q"]) == 130
    assert "the previous index is unchanged" in capsys.readouterr().err


def test_cli_process_on_a_missing_index_prints_no_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "qa.cli", "search", "Was fordert Lawrow?", "--index-dir",
         str(tmp_path / "leer")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == f"error: No index in {tmp_path / 'leer'}/. Build it with: qa index\n"


def test_print_sources_says_what_no_passage_gives(
        capsys: pytest.CaptureFixture[str]) -> None:
    from qa.cli import print_sources
    from qa.schema import Answer, AnswerSentence

    left_out = [AnswerSentence("He met Jens Stoltenberg.", unstated_names=("Jens", "Stoltenberg")),
                AnswerSentence("It was a painting.", unstated_words=("painting",)),
                AnswerSentence("It was cold.")]
    answer = Answer(question="What did Lavrov demand?", text="", sentences=[], sources=[],
                    refused=False, backend="scripted", model="m", left_out=left_out)
    print_sources(answer)
    out = capsys.readouterr().out
    assert '(left out: no passage states "He met Jens Stoltenberg."; no passage names Jens, ' \
           'Stoltenberg)' in out
    assert '(left out: no passage states "It was a painting."; no passage has a word for ' \
           'painting)' in out
    assert '(left out: no passage states "It was cold.")' in out
