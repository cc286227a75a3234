"""The uploads folder: refused files are reported once by name and never kept, counts are
articles, removing a file removes its articles, and a failed build changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from qa.embedding import Embedder
from qa.indexing import build_index
from qa.settings import Settings
from qa.store import current_folder, load_manifest, open_index
from qa.uploads import UploadedFile, Uploads, refuse_name

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


GENF = "Treffen in Genf\n\nBlinken und Lawrow trafen sich am Freitag in Genf.\n"
MINSK = "Gespräche in Minsk\n\nIn Minsk beraten die Vermittler über einen Waffenstillstand.\n"
RIGA = "Hafen in Riga\n\nDer Hafen von Riga wird bis zum Sommer erweitert.\n"


@pytest.fixture
def uploads(tmp_path: Path, embedder: Embedder, make_settings: Callable[..., Settings]) -> Uploads:
    """An index over three articles in its own folder, and its (empty) uploads manager."""
    articles = tmp_path / "articles"
    write(articles, "a_genf.txt", GENF)
    write(articles, "b_wien.txt", "Atomgespräche in Wien\n\nIn Wien verhandelt der Iran.\n")
    write(articles, "c_zebra.txt", "Verkehr\n\nBerlin malt neue Zebrastreifen vor Schulen.\n")
    settings = make_settings(tmp_path, articles_dir=articles)
    assert build_index(settings, [articles], embedder=embedder).articles_total == 3
    return Uploads(settings, embedder)


def incoming(tmp_path: Path) -> Path:
    return tmp_path / "incoming"


def folder_names(up: Uploads) -> list[str]:
    return sorted(p.name for p in up.folder.iterdir()) if up.folder.exists() else []


def chunk_text(up: Uploads) -> str:
    store = open_index(up.settings.index_dir)
    return "\n".join(t for (t,) in store.db.execute("SELECT text FROM chunks"))


def leftovers(up: Uploads) -> list[str]:
    index_dir = up.settings.index_dir
    return [p.name for p in [*index_dir.iterdir(), *up.folder.iterdir()]
            if p.name.startswith((".uploads-backup-", ".tmp-")) or p.name.endswith(".part")]


def test_empty_and_binary_uploads_are_refused_once_by_name_and_not_kept(
    uploads: Uploads, tmp_path: Path
) -> None:
    src = incoming(tmp_path)
    good = write(src, "minsk.txt", MINSK)
    (src / "leer.txt").write_bytes(b"")
    (src / "bild.txt").write_bytes(PNG)
    result = uploads.add([good, src / "leer.txt", src / "bild.txt"])
    assert result.ok and result.kept == ["minsk.txt"]
    assert result.refused == {"leer.txt": "empty file",
                              "bild.txt": "binary file (contains NUL bytes), not text"}
    assert result.lines[0] == ("1 article added, 0 updated, 0 removed, 3 unchanged; "
                               "2 files skipped; 1 chunk embedded")
    assert result.message.count("leer.txt: empty file") == 1
    assert "  skipped bild.txt: binary file (contains NUL bytes), not text" in result.lines
    assert result.lines[-1] == ("Not kept in the uploads folder (nothing in them to index): "
                                "leer.txt, bild.txt.")
    assert str(tmp_path) not in result.message  # no server paths
    assert folder_names(uploads) == ["minsk.txt"]
    assert "Minsk" in chunk_text(uploads)

    # the refused files are gone for good: the next upload reports only itself
    result = uploads.add([write(src, "riga.txt", RIGA)])
    assert result.ok and result.kept == ["riga.txt"] and result.refused == {}
    assert result.lines[0] == ("1 article added, 0 updated, 0 removed, 4 unchanged; "
                               "0 files skipped; 1 chunk embedded")
    assert "skipped" not in "\n".join(result.lines[1:]) and "leer" not in result.message
    assert folder_names(uploads) == ["minsk.txt", "riga.txt"]
    assert leftovers(uploads) == []


def test_an_upload_with_nothing_to_index_builds_nothing(
    uploads: Uploads, tmp_path: Path
) -> None:
    src = incoming(tmp_path)
    (src).mkdir()
    (src / "leer.txt").write_bytes(b"")
    (src / "foto.png").write_bytes(PNG)
    kopie = write(src, "kopie.txt", GENF)  # the same text as an indexed article
    live = current_folder(uploads.settings.index_dir)
    result = uploads.add([src / "leer.txt", src / "foto.png", kopie])
    assert result.ok and result.kept == [] and current_folder(uploads.settings.index_dir) == live
    assert result.refused["foto.png"].startswith("unsupported format '.png' (supported: ")
    assert result.refused["kopie.txt"] == "duplicate of a_genf.txt (same text), indexed once"
    assert result.lines[0] == ("0 articles added, 0 updated, 0 removed, 3 unchanged; "
                               "3 files skipped; 0 chunks embedded")
    assert "  skipped leer.txt: empty file" in result.lines
    assert "Index: 3 articles, 3 chunks (0.0 s)" in result.lines
    assert folder_names(uploads) == []


def test_bad_names_are_refused(uploads: Uploads, tmp_path: Path) -> None:
    for name in ["../x.txt", "..", ".", "", "a/b.txt", "a\\b.txt", ".versteckt.txt"]:
        assert refuse_name(name) is not None, name
    assert refuse_name("Bericht vom 3. März.txt") is None
    src = incoming(tmp_path)
    hidden = write(src, ".versteckt.txt", RIGA)
    first, second = write(src / "1", "riga.txt", RIGA), write(src / "2", "riga.txt", MINSK)
    result = uploads.add([hidden, first, second, src / "fehlt.txt"])
    assert result.kept == ["riga.txt"]
    assert result.refused == {
        ".versteckt.txt": "hidden files (names starting with '.') are not indexed",
        "riga.txt": "the same name twice in one upload",
        "fehlt.txt": "not a file",
    }

    outside = uploads.settings.articles_dir / "a_genf.txt"
    result = uploads.remove("../articles/a_genf.txt")
    assert not result.ok and "not a plain file name" in result.message
    assert outside.exists() and open_index(uploads.settings.index_dir).counts()[0] == 4
    assert not uploads.remove("..").ok and not uploads.remove(".lock").ok
    missing = uploads.remove("fehlt.txt")
    assert not missing.ok and missing.message == "No uploaded file named fehlt.txt."


def test_files_lists_uploads_with_their_articles_and_skipped_lines(
    uploads: Uploads, tmp_path: Path
) -> None:
    assert uploads.files() == []
    src = incoming(tmp_path)
    feed = write(src, "feed.jsonl",
                 '{"title": "Eins", "text": "Die erste Meldung aus Kiew."}\n'
                 '{"title": "Zwei", "text": "Die zweite Meldung aus Odessa."}\n'
                 '{"title": "kaputt", "text": \n')
    result = uploads.add([feed, write(src, "riga.txt", RIGA)])
    assert result.lines[0].startswith("3 articles added, 0 updated, 0 removed, 3 unchanged; "
                                      "1 file skipped;")
    assert "  skipped feed.jsonl: line 3: invalid JSON (Expecting value)" in result.lines
    files = uploads.files()
    assert [f.name for f in files] == ["feed.jsonl", "riga.txt"]
    assert files[0].articles == 2
    assert files[0].skipped == ("line 3: invalid JSON (Expecting value)",)
    assert files[0].status == "2 articles (1 skipped)"
    assert files[1] == UploadedFile("riga.txt", len(RIGA.encode()), 1)
    assert files[1].status == "1 article"
    (uploads.folder / "neu.txt").write_text(MINSK, encoding="utf-8")  # put there by hand
    assert uploads.files()[1] == UploadedFile("neu.txt", len(MINSK.encode()), 0, indexed=False)
    assert uploads.files()[1].status == "not indexed yet"


def test_removing_an_upload_removes_its_articles(uploads: Uploads, tmp_path: Path) -> None:
    src = incoming(tmp_path)
    uploads.add([write(src, "minsk.txt", MINSK), write(src, "riga.txt", RIGA)])
    assert open_index(uploads.settings.index_dir).counts() == (5, 5)
    result = uploads.remove("minsk.txt")
    assert result.ok and result.lines[0] == "Removed minsk.txt."
    assert result.lines[1].startswith("0 articles added, 0 updated, 1 removed, 4 unchanged;")
    assert result.report is not None and result.report.articles_total == 4
    assert folder_names(uploads) == ["riga.txt"] and "Minsk" not in chunk_text(uploads)
    manifest = load_manifest(uploads.settings.index_dir)
    assert manifest is not None
    assert str(uploads.folder.resolve() / "minsk.txt") not in manifest.files
    assert [f.name for f in uploads.files()] == ["riga.txt"]
    assert leftovers(uploads) == []


def test_a_failed_build_restores_the_replaced_file_and_the_index(
    uploads: Uploads, tmp_path: Path
) -> None:
    src = incoming(tmp_path)
    uploads.add([write(src, "bericht.txt", MINSK)])
    kept = uploads.folder / "bericht.txt"
    before = (kept.read_bytes(), kept.stat().st_mtime_ns)
    live = current_folder(uploads.settings.index_dir)

    def fail(stage: str, done: int, total: int) -> None:
        if stage == "embed":
            raise RuntimeError("disk full")

    newer = write(src / "v2", "bericht.txt", RIGA)
    result = uploads.add([newer, write(src, "neu.txt", GENF.replace("Genf", "Bern"))],
                         progress=fail)
    assert not result.ok
    assert result.message == ("Upload failed; the uploads folder and the index are unchanged: "
                              "RuntimeError: disk full")
    assert (kept.read_bytes(), kept.stat().st_mtime_ns) == before
    assert folder_names(uploads) == ["bericht.txt"]
    assert current_folder(uploads.settings.index_dir) == live
    assert "Minsk" in chunk_text(uploads) and "Riga" not in chunk_text(uploads)
    assert leftovers(uploads) == []
    # nothing left for the next run to do
    report = build_index(uploads.settings, embedder=uploads.embedder)
    assert not report.published and report.articles_added == 0

    # the same replacement, not failing: one article updated
    result = uploads.add([newer])
    assert result.ok and result.lines[0].startswith("0 articles added, 1 updated, 0 removed")
    assert "Riga" in chunk_text(uploads) and "Minsk" not in chunk_text(uploads)


def test_a_failed_removal_puts_the_file_back(uploads: Uploads, tmp_path: Path) -> None:
    uploads.add([write(incoming(tmp_path), "minsk.txt", MINSK)])

    def fail(stage: str, done: int, total: int) -> None:
        if stage == "write":
            raise OSError("read-only file system")

    result = uploads.remove("minsk.txt", progress=fail)
    assert not result.ok and result.message.startswith("Removing minsk.txt failed;")
    assert folder_names(uploads) == ["minsk.txt"] and "Minsk" in chunk_text(uploads)
    assert uploads.files()[0].articles == 1 and leftovers(uploads) == []


def test_a_file_the_build_skips_anyway_is_taken_out(
    uploads: Uploads, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the check before copying misses is still not kept, and reported once."""
    monkeypatch.setattr(Uploads, "_nothing_to_index", lambda *args: None)
    src = incoming(tmp_path)
    (src).mkdir()
    (src / "leer.txt").write_bytes(b"")
    result = uploads.add([src / "leer.txt", write(src, "riga.txt", RIGA)])
    assert result.ok and result.kept == ["riga.txt"]
    assert result.refused == {"leer.txt": "empty file"}
    assert result.message.count("leer.txt: empty file") == 1
    assert result.lines[0].startswith("1 article added, 0 updated, 0 removed, 3 unchanged; "
                                      "1 file skipped;")
    assert folder_names(uploads) == ["riga.txt"]
    manifest = load_manifest(uploads.settings.index_dir)
    assert manifest is not None
    assert str(uploads.folder.resolve() / "leer.txt") not in manifest.files


def test_a_reupload_of_the_same_file_changes_nothing(uploads: Uploads, tmp_path: Path) -> None:
    riga = write(incoming(tmp_path), "riga.txt", RIGA)
    uploads.add([riga])
    live = current_folder(uploads.settings.index_dir)
    result = uploads.add([riga])
    assert result.ok and result.kept == ["riga.txt"] and result.refused == {}
    assert result.lines[0].startswith("0 articles added, 0 updated, 0 removed, 4 unchanged;")
    assert current_folder(uploads.settings.index_dir) == live
