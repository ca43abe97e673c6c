"""The BentoML model store: registration with metadata, versions, promotion and rollback, tags in the CLI."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from training import registry
from training.cli import main
from training.registry import RegistryError


def train_and_register(tmp_path: Path, name: str, run: str, models: str = "baseline") -> dict:
    out = tmp_path / run
    assert main(["train", "--out", str(out), "--models", models, "--register", "--model-name", name,
                 "--baseline.classifiers", "logreg", "--baseline.c-values", "4",
                 "--transformer.max-steps", "4", "--transformer.max-length", "64"]) == 0
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def test_register_version_promote_and_rollback(tmp_path: Path, model_name: str, capsys: pytest.CaptureFixture) -> None:
    first = train_and_register(tmp_path, model_name, "run1", models="baseline,transformer")
    assert len(registry.list_models(model_name)) == 1  # two candidates, one store entry: the winner
    tag = first["registered"]["tag"]
    assert tag.startswith(model_name + ":")
    entry = registry.show(tag)
    assert entry["labels"]["model_type"] == "baseline"
    assert entry["labels"]["dataset"]
    meta = entry["metadata"]
    assert meta["validation_macro_f1"] == pytest.approx(first["candidates"]["baseline"]["validation"]["macro_f1"])
    assert meta["test_macro_f1"] == pytest.approx(first["test"]["macro_f1"])
    assert meta["data_fingerprint"] == first["data"]["fingerprint"]
    assert set(meta["candidates"]) == {"baseline", "transformer"}
    assert first["best"] == "baseline"  # a 4-step transformer cannot beat it on validation
    assert meta["run_dir"] == str((tmp_path / "run1").resolve())
    assert entry["manifest"]["model_type"] == "baseline"  # the whole artefact is inside the store entry
    assert (registry.resolve(tag) / "pipeline.joblib").is_file()

    time.sleep(1.1)  # BentoML orders versions by creation time (1 s resolution in its listing)
    second = train_and_register(tmp_path, model_name, "run2")
    newer = second["registered"]["tag"]
    assert newer != tag
    assert registry.default_tag(model_name) == newer
    assert [e["tag"] for e in registry.list_models(model_name)] == [newer, tag]

    capsys.readouterr()
    assert main(["models", "promote", tag]) == 0  # roll back without retraining
    assert registry.default_tag(model_name) == tag
    assert registry.resolve(model_name) == registry.resolve(tag)
    assert main(["models", "list", "--name", model_name]) == 0
    listing = capsys.readouterr().out
    served = [line for line in listing.splitlines() if "*served*" in line]
    assert len(served) == 1 and tag in served[0]

    assert main(["predict", "--model", model_name, "--text", "المنتخب الوطني يفوز في كأس أفريقيا"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] == "sport"
    assert main(["models", "show", newer]) == 0
    assert json.loads(capsys.readouterr().out)["tag"] == newer


def test_unknown_tags_are_explained(model_name: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(RegistryError, match=f"'{model_name}:latest' is not in the BentoML store"):
        registry.resolve(model_name)
    assert main(["models", "promote", f"{model_name}:nope"]) == 2
    assert "is not in the BentoML store" in capsys.readouterr().err
    assert main(["predict", "--model", f"{model_name}:nope", "--text", "نص"]) == 2
