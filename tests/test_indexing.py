"""Building the index: bad input, incremental updates, atomic publishing, damaged indexes.

Every build here uses the real embedding model (shared per session) on small folders.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

import qa.indexing
from qa.embedding import Embedder
from qa.indexing import IndexReport, PathNames, build_index
from qa.reading import RawArticle, Skipped
from qa.retrieval import Retriever
from qa.settings import Settings
from qa.store import IndexMissingError, IndexStore, current_folder, load_manifest, open_index

ROOT = Path(__file__).resolve().parents[1]
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)


def write_article(folder: Path, name: str, title: str, *sentences: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"{title}\n\n" + " ".join(sentences) + "\n", encoding="utf-8")
    return path


def three_articles(folder: Path) -> list[Path]:
    return [
        write_article(folder, "a_genf.txt", "Treffen in Genf",
                      "Blinken und Lawrow trafen sich am Freitag in Genf.",
                      "Die Gespräche dauerten anderthalb Stunden."),
        write_article(folder, "b_zebra.txt", "Verkehr in Berlin",
                      "Die Stadt Berlin malt neue Zebrastreifen vor allen Schulen.",
                      "Die Arbeiten sollen im Frühjahr beginnen."),
        write_article(folder, "c_wien.txt", "Atomgespräche in Wien",
                      "In Wien verhandelt der Iran über das Atomabkommen.",
                      "Die Fortschritte sind gering."),
    ]


def build(settings: Settings, embedder: Embedder, *folders: Path, **kwargs: object) -> IndexReport:
    return build_index(settings, list(folders), embedder=embedder, **kwargs)  # type: ignore[arg-type]


def article_paths(store: IndexStore) -> list[str]:
    return sorted(Path(a["path"]).name for a in store.articles())


def bm25_paths(settings: Settings, embedder: Embedder, query: str) -> list[str]:
    hits = Retriever(settings, embedder).search(query, k=5, mode="bm25")
    return [Path(h.path).name for h in hits]


def all_chunk_text(store: IndexStore) -> str:
    return "\n".join(t for (t,) in store.db.execute("SELECT text FROM chunks"))


@pytest.fixture
def indexed(
    tmp_path: Path, embedder: Embedder, make_settings: Callable[..., Settings]
) -> tuple[Settings, Path]:
    """An index over three short articles; returns its settings and the articles folder."""
    folder = tmp_path / "articles"
    three_articles(folder)
    settings = make_settings(tmp_path)
    report = build(settings, embedder, folder)
    assert report.published and report.articles_total == 3 and report.added
    return settings, folder


# --- bad input -----------------------------------------------------------------------------


def test_bad_input_never_stops_a_run(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch,
    make_settings: Callable[..., Settings],
) -> None:
    folder = tmp_path / "articles"
    good = write_article(folder, "gut.txt", "Treffen in Genf",
                         "Blinken und Lawrow trafen sich am Freitag in Genf.",
                         "Die Gespräche dauerten anderthalb Stunden.")
    write_article(folder, "gut2.md", "# Verkehr in Berlin",
                  "Die Stadt Berlin malt neue Zebrastreifen vor allen Schulen.")
    (folder / "kopie.txt").write_bytes(good.read_bytes())  # same article twice
    (folder / "leer.txt").write_bytes(b"")
    (folder / "leerzeilen.txt").write_text("\n  \n\t\n", encoding="utf-8")
    (folder / "bild.txt").write_bytes(PNG)  # a PNG with a .txt name
    (folder / "foto.png").write_bytes(PNG)
    (folder / "latin1.txt").write_bytes(
        "Größere Änderungen für Bürger\n\nDie Straßen in Düsseldorf werden gesperrt, "
        "hieß es. Über die Maßnahmen wird später entschieden.\n".encode("latin-1")
    )
    (folder / "navigation.html").write_text(
        "<html><body><nav><a href='/'>Start</a></nav></body></html>", encoding="utf-8"
    )
    (folder / "feed.jsonl").write_text(
        '{"title": "Aus dem Feed", "text": "Ein Artikel aus einem JSON-Lines-Feed.", '
        '"source": "dpa", "date": "2022-01-21"}\n{"title": "kaputt", "text": \n',
        encoding="utf-8",
    )
    big = folder / "riesig.txt"
    with big.open("wb") as fh:  # 20 MB of real text: indexing it would take hours
        block = ("Ein Satz über die Lage in der Ukraine. " * 1000).encode()
        while fh.tell() < 20_000_000:
            fh.write(block)

    opened: list[Path] = []
    real_read_bytes, real_sha256 = Path.read_bytes, qa.indexing.sha256_file

    def spy_read_bytes(self: Path) -> bytes:
        opened.append(self)
        return real_read_bytes(self)

    def spy_sha256(path: Path) -> str:
        opened.append(path)
        return real_sha256(path)

    monkeypatch.setattr(Path, "read_bytes", spy_read_bytes)
    monkeypatch.setattr(qa.indexing, "sha256_file", spy_sha256)
    # An explicit cap: one news article is kilobytes, so 5 MB is generous.
    settings = make_settings(tmp_path, max_file_mb=5)
    started = time.perf_counter()
    report = build(settings, embedder, folder)
    assert time.perf_counter() - started < 60
    assert big not in opened  # skipped from its size alone, never read or hashed

    store = open_index(settings.index_dir)
    assert article_paths(store) == ["feed.jsonl", "gut.txt", "gut2.md", "latin1.txt"]
    assert report.articles_total == 4 and report.published
    # skip lines name files relative to the indexed folder, never by the server's path
    reasons = {line.split(": ", 1)[0]: line.split(": ", 1)[1] for line in report.skipped}
    assert reasons.keys() == {"kopie.txt", "leer.txt", "leerzeilen.txt", "bild.txt", "foto.png",
                              "navigation.html", "feed.jsonl", "riesig.txt"}
    assert reasons["kopie.txt"] == "duplicate of gut.txt (same text), indexed once"
    assert reasons["leer.txt"] == "empty file"
    assert "no article text" in reasons["leerzeilen.txt"]
    assert "binary file" in reasons["bild.txt"]
    assert reasons["foto.png"].startswith("unsupported format '.png'")
    assert "no article text" in reasons["navigation.html"]
    assert reasons["feed.jsonl"].startswith("line 2: invalid JSON")
    assert reasons["riesig.txt"].startswith("too large for one article (20.0 MB > 5.0 MB")
    assert all("\n" not in line for line in report.skipped)
    summary = "\n".join(report.lines())
    assert "; 8 files skipped;" in summary and str(tmp_path) not in summary
    assert "  skipped kopie.txt: duplicate of gut.txt (same text), indexed once" in summary
    assert summary.splitlines()[0].startswith("4 articles added, 0 updated, 0 removed, 0 unchanged")
    # a file whose every item was skipped is not also counted as added
    added = {Path(p).name for p in report.added}
    assert not added & {"leer.txt", "bild.txt", "foto.png", "kopie.txt", "riesig.txt"}
    assert report.articles_added == report.articles_total

    latin = next(a for a in store.articles() if a["path"].endswith("latin1.txt"))
    article = store.article(latin["id"])
    assert article is not None
    assert article.title == "Größere Änderungen für Bürger"
    assert "Die Straßen in Düsseldorf werden gesperrt" in article.text
    assert bm25_paths(settings, embedder, "Düsseldorf Straßen") == ["latin1.txt"]

    # A re-run reads nothing new and writes nothing; the skipped files were reported with
    # their reasons when new, now only by name, and none of them counts as added.
    opened.clear()
    again = build(settings, embedder, folder)
    assert not again.published and again.files_unchanged == len(report.added) == 4
    assert again.articles_unchanged == 4 and again.articles_added == 0 and not again.added
    assert again.skipped == [] and again.skipped_files == []
    assert again.still_skipped == ["bild.txt", "feed.jsonl", "foto.png", "kopie.txt", "leer.txt",
                                   "leerzeilen.txt", "navigation.html", "riesig.txt"]
    assert ("  skipped earlier and unchanged: bild.txt, feed.jsonl, foto.png, kopie.txt, "
            "leer.txt, leerzeilen.txt, navigation.html, riesig.txt") in again.lines()
    assert opened == []


def test_a_file_that_crashes_the_reader_is_skipped_not_fatal(
    indexed: tuple[Settings, Path], embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, folder = indexed
    write_article(folder, "d_neu.txt", "Neu", "Ein neuer Artikel über Minsk.")
    write_article(folder, "e_crash.txt", "Absturz", "Dieser Artikel bringt den Leser zum Absturz.")
    real = qa.indexing.read_path

    def flaky(path: Path, max_bytes: int) -> Iterator[RawArticle | Skipped]:
        if path.name == "e_crash.txt":
            raise MemoryError("out of\nmemory")
        return real(path, max_bytes)

    monkeypatch.setattr(qa.indexing, "read_path", flaky)
    report = build(settings, embedder)
    assert report.published and report.articles_total == 4
    assert report.skipped == ["e_crash.txt: cannot read (MemoryError: out of memory)"]


def test_duplicate_copy_is_indexed_once_its_original_is_gone(
    indexed: tuple[Settings, Path], embedder: Embedder
) -> None:
    settings, folder = indexed
    original = folder / "a_genf.txt"
    (folder / "z_kopie.txt").write_bytes(original.read_bytes())
    write_article(folder, "d_neu.txt", "Neu", "Ein neuer Artikel über Minsk.")
    report = build(settings, embedder)
    assert report.skipped == ["z_kopie.txt: duplicate of a_genf.txt (same text), indexed once"]
    assert report.skipped_files == ["z_kopie.txt"] and report.articles_added == 1
    assert report.published and report.articles_total == 4
    assert bm25_paths(settings, embedder, "Lawrow Genf") == ["a_genf.txt"]

    original.unlink()
    report = build(settings, embedder)
    assert report.removed == [str(original)] and report.updated == [str(folder / "z_kopie.txt")]
    assert report.skipped == [] and report.still_skipped == [] and report.articles_total == 4
    # the copy's article is new (ids follow the file), the original's is gone
    assert (report.articles_added, report.articles_removed, report.articles_unchanged) == (1, 1, 3)
    assert bm25_paths(settings, embedder, "Lawrow Genf") == ["z_kopie.txt"]


def test_a_scan_that_only_skips_records_the_files_and_reports_them_once(
    indexed: tuple[Settings, Path], embedder: Embedder
) -> None:
    """Skipped files go into the manifest even when no article changed, so a later run
    neither reads them again nor counts them as added."""
    settings, folder = indexed
    before = current_folder(settings.index_dir)
    (folder / "leer.txt").write_bytes(b"")
    (folder / "bild.txt").write_bytes(PNG)
    report = build(settings, embedder)
    assert not report.published and current_folder(settings.index_dir) == before
    assert report.added == [] and report.articles_added == 0
    assert report.skipped == ["bild.txt: binary file (contains NUL bytes), not text",
                              "leer.txt: empty file"]
    assert report.skipped_files == ["bild.txt", "leer.txt"]
    assert report.lines()[0] == ("0 articles added, 0 updated, 0 removed, 3 unchanged; "
                                 "2 files skipped; 0 chunks embedded")
    assert not any(str(folder) in line for line in report.lines())
    manifest = load_manifest(settings.index_dir)
    assert manifest is not None
    assert manifest.files[str(folder / "leer.txt")].skipped == ["empty file"]
    assert manifest.files[str(folder / "leer.txt")].articles == []
    assert not [p for p in before.iterdir() if p.name.startswith(".manifest-")]  # type: ignore[union-attr]

    again = build(settings, embedder)
    assert again.added == [] and again.articles_added == 0 and again.skipped == []
    assert again.still_skipped == ["bild.txt", "leer.txt"]
    assert again.lines()[0].startswith("0 articles added, 0 updated, 0 removed, 3 unchanged; "
                                       "0 files skipped;")
    assert "  skipped earlier and unchanged: bild.txt, leer.txt" in again.lines()

    write_article(folder, "d_neu.txt", "Neu", "Ein neuer Artikel über Minsk.")
    third = build(settings, embedder)
    assert third.published and third.lines()[0] == (
        "1 article added, 0 updated, 0 removed, 3 unchanged; 0 files skipped; 1 chunk embedded")
    assert third.added == [str(folder / "d_neu.txt")]


def test_a_removed_article_is_removed_once(
    indexed: tuple[Settings, Path], embedder: Embedder
) -> None:
    """`remove_ids` publishes once; later runs neither re-publish nor report it as skipped."""
    settings, folder = indexed
    store = open_index(settings.index_dir)
    (genf,) = [a["id"] for a in store.articles() if a["path"].endswith("a_genf.txt")]
    report = build(settings, embedder, remove_ids=[genf])
    assert report.published and report.articles_removed == 1 and report.articles_total == 2
    manifest = load_manifest(settings.index_dir)
    assert manifest is not None
    entry = manifest.files[str(folder / "a_genf.txt")]
    assert entry.articles == [] and entry.skipped == [f"article {genf} was removed by the user"]
    live = current_folder(settings.index_dir)
    again = build(settings, embedder)
    assert not again.published and current_folder(settings.index_dir) == live
    assert again.articles_removed == 0 and again.still_skipped == [] and again.skipped == []
    assert again.articles_total == 2


def test_counts_are_articles_not_files(
    tmp_path: Path, embedder: Embedder, make_settings: Callable[..., Settings]
) -> None:
    folder = tmp_path / "feed"
    folder.mkdir()
    lines = [json.dumps({"title": f"Meldung {n}", "text": f"Die {n}. Meldung betrifft Ort{n}."})
             for n in range(3)]
    (folder / "feed.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = make_settings(tmp_path)
    report = build(settings, embedder, folder)
    assert len(report.added) == 1 and report.articles_added == 3 == report.articles_total
    assert report.lines()[0].startswith("3 articles added, 0 updated, 0 removed, 0 unchanged;")
    (folder / "feed.jsonl").write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")
    report = build(settings, embedder)
    # the changed file is read again: its two remaining lines are embedded again
    assert (report.articles_added, report.articles_updated, report.articles_removed) == (0, 2, 1)
    assert report.articles_total == 2


def test_path_names_hide_the_servers_folders() -> None:
    names = PathNames(["/srv/news", "/srv/news/deep", "/data/one.txt"])
    assert names.name("/srv/news/a.txt") == "a.txt"
    assert names.name("/srv/news/sub/b.txt") == "sub/b.txt"
    assert names.name("/srv/news/deep/c.txt") == "c.txt"
    assert names.name("/data/one.txt") == "one.txt"
    assert names.name("/elsewhere/x.txt") == "x.txt"
    assert names.text("duplicate of /srv/news/a.txt (same)") == "duplicate of a.txt (same)"
    assert names.text("duplicate of /data/one.txt:3 (same)") == "duplicate of one.txt:3 (same)"
    assert names.text("see /srv/newsroom/x") == "see /srv/newsroom/x"  # not a root


# --- incremental updates -------------------------------------------------------------------


def test_added_file_is_the_only_one_embedded(
    indexed: tuple[Settings, Path], embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, folder = indexed
    embedded: list[str] = []
    real = embedder.encode_passages

    def spy(texts: list[str], progress: bool = False) -> np.ndarray:
        embedded.extend(texts)
        return real(texts, progress)

    monkeypatch.setattr(embedder, "encode_passages", spy)
    new = write_article(folder, "d_kiew.txt", "Besuch in Kiew",
                        *[f"Die Außenministerin besuchte am Tag {n} die Stadt Kiew." for n in
                          range(40)])
    report = build(settings, embedder)  # no folder: the indexed roots are remembered
    assert report.added == [str(new)] and report.files_unchanged == 3
    assert (report.articles_added, report.articles_updated, report.articles_unchanged) == (1, 0, 3)
    store = open_index(settings.index_dir)
    (d_id,) = [a["id"] for a in store.articles() if a["path"] == str(new)]
    (n_chunks,) = store.db.execute("SELECT COUNT(*) FROM chunks WHERE article_id = ?",
                                   (d_id,)).fetchone()
    assert n_chunks >= 2
    assert report.chunks_added == n_chunks == len(embedded)
    assert all(t.startswith("Besuch in Kiew\n") for t in embedded)
    assert report.articles_total == 4
    assert report.chunks_total == 3 + n_chunks


def test_modified_file_is_replaced(indexed: tuple[Settings, Path], embedder: Embedder) -> None:
    settings, folder = indexed
    before = current_folder(settings.index_dir)
    assert bm25_paths(settings, embedder, "Zebrastreifen") == ["b_zebra.txt"]
    write_article(folder, "b_zebra.txt", "Verkehr in Berlin",
                  "Die Stadt Berlin baut einen Leuchtturm am Wannsee.",
                  "Die Arbeiten beginnen im Sommer.")
    report = build(settings, embedder)
    assert report.updated == [str(folder / "b_zebra.txt")] and report.files_unchanged == 2
    assert (report.articles_added, report.articles_updated, report.articles_unchanged) == (0, 1, 2)
    assert report.lines()[0].startswith("0 articles added, 1 updated, 0 removed, 2 unchanged;")
    assert report.published and current_folder(settings.index_dir) != before
    store = open_index(settings.index_dir)
    assert report.articles_total == 3 and len(store.articles()) == 3
    assert "Zebrastreifen" not in all_chunk_text(store)
    assert bm25_paths(settings, embedder, "Zebrastreifen") == []
    assert bm25_paths(settings, embedder, "Leuchtturm") == ["b_zebra.txt"]
    hits = Retriever(settings, embedder).search("Wo wird ein Leuchtturm gebaut?", k=1)
    assert hits[0].text == ("Die Stadt Berlin baut einen Leuchtturm am Wannsee. "
                            "Die Arbeiten beginnen im Sommer.")


def test_deleted_file_is_dropped(indexed: tuple[Settings, Path], embedder: Embedder) -> None:
    settings, folder = indexed
    (folder / "c_wien.txt").unlink()
    report = build(settings, embedder)
    assert report.removed == [str(folder / "c_wien.txt")]
    assert report.published and report.articles_total == 2 and report.chunks_total == 2
    assert (report.articles_removed, report.articles_unchanged) == (1, 2)
    store = open_index(settings.index_dir)
    assert article_paths(store) == ["a_genf.txt", "b_zebra.txt"]
    assert store.search.count() == 2
    assert bm25_paths(settings, embedder, "Atomabkommen Wien") == []


def test_unchanged_rerun_writes_nothing(
    indexed: tuple[Settings, Path], embedder: Embedder
) -> None:
    settings, folder = indexed
    before = current_folder(settings.index_dir)
    listing = sorted(p.name for p in settings.index_dir.iterdir())
    report = build(settings, embedder)
    assert not report.published and report.articles_unchanged == 3 and report.chunks_added == 0
    assert "Index is up to date; no articles changed." in report.lines()
    # touched but not changed: still nothing to publish; the new mtime is recorded in the live
    # manifest, so the next run does not hash the file again
    touched = time.time_ns()
    os.utime(folder / "a_genf.txt", ns=(touched, touched))
    report = build(settings, embedder)
    assert not report.published and report.articles_unchanged == 3
    manifest = load_manifest(settings.index_dir)
    assert manifest is not None
    assert manifest.files[str(folder / "a_genf.txt")].mtime_ns == touched
    assert current_folder(settings.index_dir) == before
    assert sorted(p.name for p in settings.index_dir.iterdir()) == listing
    assert (report.articles_total, report.chunks_total) == (3, 3)


def test_changed_chunk_size_rebuilds_everything(
    indexed: tuple[Settings, Path], embedder: Embedder
) -> None:
    settings, _ = indexed
    smaller = settings.model_copy(update={"chunk_tokens": 100})
    report = build(smaller, embedder)
    assert report.rebuild_reason is not None
    assert report.rebuild_reason.startswith("chunker settings changed")
    assert "'max_tokens': 200" in report.rebuild_reason
    assert "'max_tokens': 100" in report.rebuild_reason
    assert report.lines()[0].startswith("Full rebuild: chunker settings changed")
    assert report.published and len(report.added) == 3 and report.chunks_added == 3
    assert (report.articles_added, report.articles_updated) == (0, 3)  # the same ids again
    assert open_index(settings.index_dir).manifest.chunker["max_tokens"] == 100
    # and with the same settings again, nothing is rebuilt
    again = build(smaller, embedder)
    assert again.rebuild_reason is None and not again.published


def test_rebuild_flag_says_why(indexed: tuple[Settings, Path], embedder: Embedder) -> None:
    settings, _ = indexed
    report = build(settings, embedder, rebuild=True)
    assert report.rebuild_reason == "requested with --rebuild"
    assert report.published and report.chunks_added == 3 and report.articles_total == 3


# --- atomic publishing ---------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["embed", "write"])
@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_interrupted_build_leaves_the_old_index(
    indexed: tuple[Settings, Path], embedder: Embedder, stage: str, error: type[BaseException]
) -> None:
    settings, folder = indexed
    before = current_folder(settings.index_dir)
    write_article(folder, "d_neu.txt", "Neu", "Ein neuer Artikel über Minsk.")
    (folder / "c_wien.txt").unlink()

    def progress(name: str, done: int, total: int) -> None:
        if name == stage:
            raise error("stopped by the test")

    with pytest.raises(error):
        build(settings, embedder, progress=progress)
    assert current_folder(settings.index_dir) == before
    store = open_index(settings.index_dir)
    assert article_paths(store) == ["a_genf.txt", "b_zebra.txt", "c_wien.txt"]
    assert store.counts() == (3, 3)
    assert [p.name for p in settings.index_dir.iterdir() if p.name.startswith(".tmp-")] == []
    # the next run does the work that was interrupted
    report = build(settings, embedder)
    assert report.added == [str(folder / "d_neu.txt")]
    assert report.removed == [str(folder / "c_wien.txt")]


def test_killed_build_leaves_the_previous_generation(
    tmp_path: Path, embedder: Embedder, make_settings: Callable[..., Settings]
) -> None:
    """SIGKILL `qa index` while it embeds: the previous generation stays live and usable."""
    small, big = tmp_path / "small", tmp_path / "big"
    three_articles(small)
    settings = make_settings(tmp_path)
    build(settings, embedder, small)
    before = current_folder(settings.index_dir)
    for n in range(150):
        write_article(big, f"artikel_{n:03d}.txt", f"Bericht Nummer {n} aus der Stadt Ort{n}",
                      *[f"Der Gemeinderat von Ort{n} beriet am Abend über den Haushalt des "
                        f"Jahres {2000 + k} und die Sanierung der Brücke Nummer {k}."
                        for k in range(12)])

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "qa.cli", "index", str(big), "--index-dir",
         str(settings.index_dir)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    embedding = threading.Event()
    seen = bytearray()

    def watch() -> None:
        assert proc.stderr is not None
        while chunk := proc.stderr.read1(4096):  # type: ignore[attr-defined]
            seen.extend(chunk)
            if b"Embedding chunks" in seen:
                embedding.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        assert embedding.wait(timeout=240), seen.decode(errors="replace")[-2000:]
        time.sleep(0.5)  # well inside the embedding of ~300 chunks
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        watcher.join(timeout=10)
    assert proc.returncode == -signal.SIGKILL  # it was still running: killed mid-build

    assert current_folder(settings.index_dir) == before
    store = open_index(settings.index_dir)
    assert store.counts() == (3, 3)
    assert article_paths(store) == ["a_genf.txt", "b_zebra.txt", "c_wien.txt"]
    assert bm25_paths(settings, embedder, "Zebrastreifen") == ["b_zebra.txt"]
    hits = Retriever(settings, embedder).search("Wie lange dauerten die Gespräche in Genf?")
    assert hits and Path(hits[0].path).name == "a_genf.txt"


def test_leftovers_of_a_crashed_build_are_cleaned_by_the_next_build(
    indexed: tuple[Settings, Path], embedder: Embedder
) -> None:
    settings, folder = indexed
    index_dir = settings.index_dir
    live = current_folder(index_dir)
    assert live is not None
    # what a build killed at various points leaves behind
    (index_dir / ".tmp-gen-000002-999999" / "bm25").mkdir(parents=True)
    (index_dir / ".tmp-gen-000002-999999" / "meta.sqlite").write_bytes(b"half written")
    (index_dir / ".CURRENT-999999").write_text("gen-000002\n")
    # an unchanged run publishes nothing and must not touch them (or the live index)
    assert not build(settings, embedder).published
    assert open_index(index_dir).counts() == (3, 3)

    write_article(folder, "d_neu.txt", "Neu", "Ein neuer Artikel über Minsk.")
    report = build(settings, embedder)
    assert report.published
    names = sorted(p.name for p in index_dir.iterdir())
    assert names == [".lock", "CURRENT", live.name, "gen-000002"]
    assert open_index(index_dir).counts() == (4, 4)
    # only the live and the previous generation are kept
    write_article(folder, "e_neu.txt", "Neu", "Noch ein Artikel über Riga.")
    build(settings, embedder)
    assert sorted(p.name for p in index_dir.glob("gen-*")) == ["gen-000002", "gen-000003"]


# --- missing and damaged indexes -----------------------------------------------------------


def test_missing_index_says_to_run_qa_index(settings: Settings) -> None:
    with pytest.raises(IndexMissingError, match=r"Build it with: qa index") as info:
        open_index(settings.index_dir)
    assert str(settings.index_dir) in str(info.value)


def _truncate_dense(folder: Path) -> None:
    path = folder / "dense.faiss"
    path.write_bytes(path.read_bytes()[:100])


def _garbage_manifest(folder: Path) -> None:
    (folder / "manifest.json").write_text("{ this is not json", encoding="utf-8")


def _wrong_manifest_fields(folder: Path) -> None:
    (folder / "manifest.json").write_text(json.dumps({"hello": 1}), encoding="utf-8")


def _missing_bm25(folder: Path) -> None:
    shutil.rmtree(folder / "bm25")
    (folder / "bm25").mkdir()


def _empty_sqlite(folder: Path) -> None:
    (folder / "meta.sqlite").write_bytes(b"")


@pytest.mark.parametrize(
    "damage", [_truncate_dense, _garbage_manifest, _wrong_manifest_fields, _missing_bm25,
               _empty_sqlite],
)
def test_damaged_index_says_rebuild_and_the_next_build_repairs_it(
    indexed: tuple[Settings, Path], embedder: Embedder, damage: object
) -> None:
    settings, _ = indexed
    live = current_folder(settings.index_dir)
    assert live is not None
    damage(live)  # type: ignore[operator]
    with pytest.raises(IndexMissingError, match=r"damaged .*Rebuild it with: qa index --rebuild"):
        open_index(settings.index_dir)
    report = build(settings, embedder)
    assert report.rebuild_reason is not None
    assert report.rebuild_reason.startswith(
        ("the existing index is damaged", "the existing index is unreadable")
    )
    assert report.published and report.articles_total == 3
    assert open_index(settings.index_dir).counts() == (3, 3)


def test_an_index_from_before_segmented_bm25_opens_and_is_upgraded_by_the_next_build(
    indexed: tuple[Settings, Path], embedder: Embedder
) -> None:
    """A generation written with bm25s (format 1) is read from its stored chunks, not rebuilt
    from the articles; the next change writes the segmented BM25."""
    import bm25s

    from qa.bm25 import analyze

    settings, folder = indexed
    live = current_folder(settings.index_dir)
    assert live is not None
    before = bm25_paths(settings, embedder, "Putin")
    rows = open_index(settings.index_dir).db.execute(
        "SELECT a.title || char(10) || c.text FROM chunks c JOIN articles a ON a.id = c.article_id"
        " ORDER BY c.id").fetchall()
    shutil.rmtree(live / "bm25")
    old = bm25s.BM25()
    old.index([analyze(r[0]) for r in rows], show_progress=False)
    old.save(str(live / "bm25"))
    assert bm25_paths(settings, embedder, "Putin") == before
    (folder / "d.txt").write_text("Lawrow traf Blinken in Stockholm.\n\nDas Treffen dauerte "
                                  "zwei Stunden.", encoding="utf-8")
    report = build(settings, embedder, folder)
    assert report.published and report.rebuild_reason is None
    upgraded = current_folder(settings.index_dir)
    assert upgraded is not None and (upgraded / "bm25" / "bm25.json").is_file()
    assert "d.txt" in bm25_paths(settings, embedder, "Stockholm")


def test_current_pointing_nowhere_is_damaged_not_missing(settings: Settings) -> None:
    settings.index_dir.mkdir(parents=True)
    (settings.index_dir / "CURRENT").write_text("gen-000042\n")
    with pytest.raises(IndexMissingError, match="Rebuild it with"):
        open_index(settings.index_dir)
