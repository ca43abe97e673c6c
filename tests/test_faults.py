"""Faults: a training run killed mid-way leaves no half-written artefact or store entry; a full disk is
reported as such."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import training
from training.cli import main

TRAIN = ["--models", "baseline", "--baseline.classifiers", "logreg", "--baseline.c-values", "4"]


def start_training(out: Path, home: Path, name: str) -> subprocess.Popen:
    env = dict(os.environ, BENTOML_HOME=str(home), PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "training", "train", "--out", str(out), "--register",
                             "--model-name", name, *TRAIN], env=env, stderr=subprocess.PIPE, text=True)


def wait_for_line(process: subprocess.Popen, needle: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    assert process.stderr is not None
    for line in process.stderr:
        if needle in line:
            return
        assert time.monotonic() < deadline, f"no {needle!r} within {timeout}s"
    raise AssertionError(f"process ended before logging {needle!r}")


def store_entries(home: Path, name: str) -> list[Path]:
    return [p for p in (home / "models" / name).glob("*") if p.is_dir()] if (home / "models" / name).exists() else []


def assert_nothing_half_written(out: Path, home: Path, name: str) -> None:
    artifacts = out / "artifacts"
    for directory in artifacts.iterdir() if artifacts.exists() else []:
        if not directory.name.startswith("."):
            training.load(directory)  # whatever is in place is complete and verified
    for entry in store_entries(home, name):
        assert (entry / "artifact" / "manifest.json").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("sig, moment", [(signal.SIGTERM, "data validated"), (signal.SIGKILL, "winner baseline")])
def test_killed_training_leaves_nothing_half_written(tmp_path: Path, model_name: str, sig: int, moment: str) -> None:
    out, home = tmp_path / "run", tmp_path / "home"
    process = start_training(out, home, model_name)
    try:
        wait_for_line(process, moment)
        process.send_signal(sig)
        process.wait(timeout=60)
    finally:
        process.kill()
    assert process.returncode in (-signal.SIGKILL, 128 + signal.SIGTERM)
    assert_nothing_half_written(out, home, model_name)
    if sig == signal.SIGTERM:  # unwound cleanly: no temporary directories either
        assert not list(out.rglob("*.partial*")) and not (out / "report.json").exists()
    rerun = start_training(out, home, model_name)  # a rerun into the same directory just works
    assert rerun.wait(timeout=600) == 0, rerun.stderr.read() if rerun.stderr else ""
    assert_nothing_half_written(out, home, model_name)
    assert not list(out.rglob(".*partial*"))
    assert len(store_entries(home, model_name)) == 1


def test_full_disk_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    mount = tmp_path / "tiny"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        assert main(["train", "--out", str(mount / "run"), *TRAIN]) == 2
        err = capsys.readouterr().err
        assert "No space left on device" in err and "free disk space" in err
        assert not list((mount / "run" / "artifacts").glob("*"))
    finally:
        subprocess.run(["umount", str(mount)], check=False)
