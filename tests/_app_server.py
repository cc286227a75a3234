"""Start the chat app (`python app.py`) once per test process, on a free port.

The subprocess builds a temporary index from data/articles on first run (the same path a
fresh clone takes) and answers in quote-only mode (`QA_LLM=extractive`) to stay fast, unless
a test asks for the embedded model (`app_server("llamacpp")`).
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 420.0


@dataclass
class AppServer:
    url: str
    index_dir: Path
    log_path: Path
    proc: subprocess.Popen[bytes]

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


_servers: dict[str, AppServer] = {}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(server: AppServer, workdir: Path) -> None:
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.proc.kill()
    shutil.rmtree(workdir, ignore_errors=True)


def app_server(
    llm: str = "extractive", env: dict[str, str] | None = None, args: tuple[str, ...] = (),
    key: str | None = None,
) -> AppServer:
    """The running app answering with `llm`, for this process (started on first use,
    stopped at exit); `env` and `args` start a differently configured one under `key`."""
    key = key or llm
    running = _servers.get(key)
    if running is not None and running.proc.poll() is None:
        return running
    workdir = Path(tempfile.mkdtemp(prefix="qa-chat-test-"))
    index_dir, log_path, port = workdir / "index", workdir / "app.log", free_port()
    env = {**os.environ, "QA_LLM": llm, "HF_HUB_OFFLINE": "1",
           "GRADIO_ANALYTICS_ENABLED": "False", "QA_ARTICLES_DIR": str(ROOT / "data/articles"),
           **(env or {})}
    cmd = [sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port),
           "--index-dir", str(index_dir), "--llm", llm, "--no-share", *args]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = AppServer(f"http://127.0.0.1:{port}/", index_dir, log_path, proc)
    atexit.register(_stop, server, workdir)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited with {proc.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(server.url + "gradio_api/info", timeout=5) as resp:
                if resp.status == 200:
                    _servers[key] = server
                    return server
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):  # up, behind sign-in
                _servers[key] = server
                return server
        except OSError:
            pass
        time.sleep(1.0)
    _stop(server, workdir)
    raise RuntimeError(f"app.py did not start within {START_TIMEOUT_S:.0f} s:\n"
                       f"{server.log_tail()}")
