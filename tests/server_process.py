"""Run the service (or any HTTP server of this repository) as a subprocess on loopback: what the tests, the
benchmarks and the soak use to start a real ``bentoml serve``, wait for it and stop it. (A test and benchmark
helper: it lives here, not in ``serving/``, so that it is not shipped in the Bento.)

    port = free_port()
    proc = start_bentoml(port, Path("server.log"), ARABIC_NEWS_MODEL_TAG="arabic-news-topics:latest")
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc, Path("server.log"))
        ...
    finally:
        stop(proc)

The server runs in its own session, so ``stop`` reaches BentoML's supervisor and all its workers at once.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SERVICE = "serving.service:ArabicNewsTopics"


class ServerStartError(RuntimeError):
    """The server exited or did not answer /readyz in time; the message ends with its log."""


def server_env(**extra: str) -> dict[str, str]:
    """This environment, offline and untracked, with the repository importable, plus ``extra``."""
    env = {**os.environ, "BENTOML_DO_NOT_TRACK": "true", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(command: list[str], log: Path, **env: str) -> subprocess.Popen:
    """``command`` in the repository, stdout and stderr to ``log``, in a new session, with ``server_env(**env)``."""
    return subprocess.Popen(command, cwd=REPO, env=server_env(**env), stdout=log.open("wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def start_bentoml(port: int, log: Path, **env: str) -> subprocess.Popen:
    """``bentoml serve`` of this service on 127.0.0.1:``port``; ``env`` sets e.g. BENTOML_HOME and
    ARABIC_NEWS_MODEL_TAG."""
    return start([sys.executable, "-m", "bentoml", "serve", SERVICE, "--host", "127.0.0.1", "--port", str(port)],
                 log, **env)


def log_tail(log: Path, chars: int = 4000) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-chars:] if log.exists() else "(no log)"


# Start-up is bounded by polls rather than by a deadline: each poll first checks that the server process is
# still alive (a server that cannot start exits, and is reported at once with its log), then asks /readyz. On a
# busy shared machine a slow start then means more polls, not a spurious failure of a clock-bound wait; the
# bound only stops a server that hangs without exiting. 720 polls of at most 0.5 s sleep + 2 s request.
READY_POLLS = 720


def wait_ready(url: str, proc: subprocess.Popen, log: Path, polls: int = READY_POLLS) -> None:
    """Poll ``url``/readyz until it answers 200; ServerStartError if ``proc`` exits or after ``polls`` polls."""
    import httpx

    for _ in range(polls):
        if proc.poll() is not None:
            raise ServerStartError(f"server exited with {proc.returncode} before it was ready; log:\n{log_tail(log)}")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise ServerStartError(f"server not ready after {polls} polls of /readyz; log:\n{log_tail(log)}")


def stop(proc: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM to the server's whole session, SIGKILL after ``timeout`` seconds."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
