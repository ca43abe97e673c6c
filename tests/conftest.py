"""Shared fixtures: offline hub, private BentoML home, the built-in sample corpus, ../shared when present."""
from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import pytest

# Set before any test module imports transformers, datasets or bentoml.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["BENTOML_DO_NOT_TRACK"] = "true"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["BENTOML_HOME"] = tempfile.mkdtemp(prefix="bentoml-home-")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"


@pytest.fixture
def model_name() -> str:
    """A store name of the test's own: BentoML fixes its store location at first use, so tests share one
    temporary BENTOML_HOME and keep apart by name."""
    return f"topics-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "datasets").is_dir():
        pytest.skip("../shared is absent")
    return SHARED


@pytest.fixture(scope="session")
def sample_data():
    """The built-in sample corpus, split with the default seed."""
    from training.config import DataConfig
    from training.data.loading import load_data

    return load_data(DataConfig(), seed=13)


@pytest.fixture(scope="session")
def baseline_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One real baseline training run on the sample corpus (a small grid), shared by the tests that read it."""
    from training.config import TrainConfig
    from training.train import run

    out = tmp_path_factory.mktemp("run") / "baseline"
    config = TrainConfig(out=str(out), models=["baseline"])
    config.baseline.c_values = [4.0]
    config.baseline.classifiers = ["logreg"]
    report = run(config)
    report["out"] = out
    return report


@pytest.fixture(scope="session")
def server(baseline_run: dict, tmp_path_factory: pytest.TempPathFactory):
    """ONE real ``bentoml serve`` for the whole session (tests/test_service.py, tests/test_fuzz.py): the session's
    baseline registered in the session's temporary BentoML home, on a free loopback port. Yields
    {url, tag, proc, log, labels}. Tests must not stop it (test_service has its own server for SIGTERM)."""
    from server_process import ServerStartError, free_port, start_bentoml, stop, wait_ready

    from training.registry import register

    httpx = pytest.importorskip("httpx")
    tag = register(baseline_run["best_artifact"], f"topics-service-{uuid.uuid4().hex[:8]}")["tag"]
    port, log = free_port(), tmp_path_factory.mktemp("service") / "server.log"
    proc = start_bentoml(port, log, ARABIC_NEWS_MODEL_TAG=tag)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_ready(url, proc, log)
        except ServerStartError as exc:
            pytest.fail(str(exc))
        labels = httpx.get(url + "/metadata", timeout=10).json()["labels"]
        yield {"url": url, "tag": tag, "proc": proc, "log": log, "labels": labels}
    finally:
        stop(proc)
