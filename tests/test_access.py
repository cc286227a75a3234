"""A chat shared with a desk: every refusal path, through the real app and gradio_client.

One app process with a users file (a reader and an editor) and small limits serves the
tests in this file; exposure checks start app.py itself and expect it to refuse.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from qa.accounts import add_user
from qa.corpus_log import read_changes

sys.path.insert(0, str(Path(__file__).parent))  # the helper sits next to this file
from _app_server import ROOT, AppServer, app_server

PASSWORD = {"rita": "reader-pass-1", "ed": "editor-pass-1"}
ARTICLE = (
    "Blinken trifft Haavisto in Helsinki\n\n"
    "HELSINKI, 3. Dezember 2021 (AFP) – Der finnische Außenminister Pekka Haavisto empfing am "
    "Donnerstag in Helsinki seinen US-Kollegen Antony Blinken.\n"
)


@pytest.fixture(scope="module")
def users_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("users") / "users.json"
    add_user(path, "rita", PASSWORD["rita"], "reader")
    add_user(path, "ed", PASSWORD["ed"], "editor")
    return path


@pytest.fixture(scope="module")
def server(users_file: Path) -> AppServer:
    env = {"QA_USERS_FILE": str(users_file), "QA_MAX_UPLOAD_MB": "0.001",
           "QA_MAX_QUESTION_CHARS": "200"}
    return app_server(env=env, key="signed-in")


def client(server: AppServer, name: str) -> Client:
    return Client(server.url, auth=(name, PASSWORD[name]), verbose=False)


def test_signed_in_reader_can_ask(server: AppServer) -> None:
    result = client(server, "rita").predict("Was fordert Lawrow?", api_name="/ask")
    assert "Sicherheitsgarantien" in result["answer"]


def test_wrong_password_or_no_sign_in_gets_nothing(server: AppServer) -> None:
    with pytest.raises(Exception):  # noqa: B017 (gradio_client raises a plain ValueError)
        Client(server.url, auth=("rita", "wrong-password"), verbose=False)
    with pytest.raises(Exception):  # noqa: B017
        Client(server.url, verbose=False).predict("Was fordert Lawrow?", api_name="/ask")


def test_a_reader_cannot_upload_or_remove(server: AppServer, tmp_path: Path) -> None:
    article = tmp_path / "haavisto.txt"
    article.write_text(ARTICLE, encoding="utf-8")
    reader = client(server, "rita")
    with pytest.raises(Exception, match="rita is a reader: only editors may add or remove"):
        reader.predict([handle_file(str(article))], api_name="/upload_articles")
    with pytest.raises(Exception, match="only editors"):
        reader.predict("haavisto.txt", api_name="/remove_article")
    assert not (server.index_dir / "uploads" / "haavisto.txt").exists()


def test_an_editor_uploads_and_removes_and_both_are_logged(server: AppServer,
                                                           tmp_path: Path) -> None:
    article = tmp_path / "haavisto.txt"
    article.write_text(ARTICLE, encoding="utf-8")
    editor = client(server, "ed")
    report = editor.predict([handle_file(str(article))], api_name="/upload_articles")
    assert report.startswith("1 article added")
    report = editor.predict("haavisto.txt", api_name="/remove_article")
    assert report.startswith("Removed haavisto.txt.")
    changes = read_changes(server.index_dir, limit=2)  # newest first
    assert [(c["user"], c["action"], c["files"]) for c in changes] == [
        ("ed", "remove", ["haavisto.txt"]), ("ed", "upload", ["haavisto.txt"])]
    assert changes[1]["summary"][0].startswith("1 article added")


def test_an_oversized_upload_is_refused_with_the_limit(server: AppServer, tmp_path: Path) -> None:
    big = tmp_path / "gross.txt"
    big.write_text("Titel\n\n" + "Ein langer Satz über die Ukraine. " * 100, encoding="utf-8")
    with pytest.raises(Exception, match=r"gross\.txt|file size|too large|limit"):
        client(server, "ed").predict([handle_file(str(big))], api_name="/upload_articles")
    assert not (server.index_dir / "uploads" / "gross.txt").exists()


def test_an_overlong_question_gets_a_clear_message_not_a_cut(server: AppServer) -> None:
    question = "Was fordert Lawrow " + "wirklich " * 40 + "?"
    with pytest.raises(Exception, match=r"The question is too long \(\d+ characters; at most "
                                        r"200\)"):
        client(server, "rita").predict(question, api_name="/ask")


def _start(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    full = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    full.pop("QA_USERS_FILE", None)
    return subprocess.run([sys.executable, "app.py", *args], cwd=ROOT, env=full,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args", [("--host", "0.0.0.0"), ("--share",)])
def test_exposed_without_sign_in_refuses_to_start(args: tuple[str, ...], tmp_path: Path) -> None:
    done = _start(*args, "--port", "1", "--index-dir", str(tmp_path / "index"))
    assert done.returncode == 2
    assert "Refusing to start: the chat would be open without sign-in" in done.stderr
    assert "qa users add NAME --role editor" in done.stderr and "--no-auth" in done.stderr
    assert not (tmp_path / "index").exists()  # refused before any work


def test_a_broken_users_file_refuses_to_start(tmp_path: Path) -> None:
    bad = tmp_path / "users.json"
    bad.write_text("{not json", encoding="utf-8")
    bad.chmod(0o600)
    done = _start("--users-file", str(bad), "--index-dir", str(tmp_path / "index"))
    assert done.returncode == 2 and str(bad) in done.stderr


def test_read_only_refuses_every_corpus_change(sample_index: object, tmp_path: Path) -> None:
    import gradio as gr

    from qa.chat_ui import ChatApp
    from qa.settings import Settings

    assert isinstance(sample_index, Settings)
    app = ChatApp(sample_index.model_copy(update={"read_only": True}))
    article = tmp_path / "haavisto.txt"
    article.write_text(ARTICLE, encoding="utf-8")
    with pytest.raises(gr.Error, match="read-only"):
        app.api_upload([str(article)], None)  # type: ignore[arg-type]
    with pytest.raises(gr.Error, match="read-only"):
        app.api_remove("haavisto.txt", None)  # type: ignore[arg-type]
    message = app.remove("some-id", None)[0]  # type: ignore[arg-type]
    assert "read-only" in message
    assert app.desk.uploads.files() == []
