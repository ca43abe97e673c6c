"""The BentoML model store: registration with metadata, versions, promotion and rollback, tags in the CLI."""
from __future__ import annotations

import json
import os
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
    umask = os.umask(0)
    os.umask(umask)
    for directory in (tmp_path / "run1" / "artifacts" / "baseline", registry.resolve(tag)):  # as the umask allows,
        assert directory.stat().st_mode & 0o777 == 0o777 & ~umask, directory  # so a serving account can read it

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
    assert main(["models", "show", model_name]) == 0  # a bare name: the served version, not the newest
    assert json.loads(capsys.readouterr().out)["tag"] == tag


def test_unknown_tags_are_explained(model_name: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(RegistryError, match=f"model '{model_name}' is not in the BentoML store"):  # as typed
        registry.resolve(model_name)
    assert main(["models", "promote", f"{model_name}:nope"]) == 2
    assert "is not in the BentoML store" in capsys.readouterr().err
    for bare in (model_name, f"{model_name}:latest"):  # both mean "the newest", which may not be the one meant
        assert main(["models", "promote", bare]) == 2
        assert "give the version to serve, NAME:VERSION" in capsys.readouterr().err
    assert main(["predict", "--model", f"{model_name}:nope", "--text", "نص"]) == 2


def test_mistyped_paths_and_malformed_tags_are_explained(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    typo = str(tmp_path / "run" / "artifacts" / "baselin")
    articles = tmp_path / "articles.jsonl"
    articles.write_text('{"id": "a1", "text": "نص خبر", "label": "sport"}\n', encoding="utf-8")
    for command in (["predict", "--model", typo, "--text", "نص"],
                    ["evaluate", typo, "--data", str(articles), "--out", str(tmp_path / "e")],
                    ["suggest", "--model", typo, "--pool", str(articles), "--out", str(tmp_path / "s.csv")]):
        assert main(command) == 2, command
        err = capsys.readouterr().err.strip()
        assert err == f"error: {typo}: no such artefact directory; check the path (an artefact is a run's " \
                      "artifacts/NAME directory), or give a store tag NAME or NAME:VERSION (see `models list`)", err
    # what the server gets from ARABIC_NEWS_MODEL_TAG=<a path> after a version is appended
    with pytest.raises(RegistryError, match="'models/x:latest' is not a model tag .*; expected NAME or NAME:VERSION"):
        registry.resolve("models/x:latest")


# ------------------------------------------------------------------- champion vs challenger (retraining loop)

def retrain(root: Path, run: str, name: str, rows: list[dict], test_rows: list[dict] | None = None,
            promote: str = "if-better", labels: list[str] | None = None) -> dict:
    """A real baseline run registered under ``name``; ``test_rows``: a fixed test file (the same articles each run)."""
    from retraining_data import write_jsonl

    from training.config import TrainConfig
    from training.train import run as train_run

    data = root / f"{run}-data"
    write_jsonl(data / "train.jsonl", rows)
    if test_rows:
        write_jsonl(data / "test.jsonl", test_rows)
    config = TrainConfig(out=str(root / run), models=["baseline"], register=True, promote=promote, model_name=name)
    config.data.path, config.data.labels = str(data), labels or []
    config.baseline.classifiers, config.baseline.c_values = ["logreg"], [4.0]
    return train_run(config)


def test_worse_challenger_kept_better_one_promoted(tmp_path: Path, model_name: str,
                                                   capsys: pytest.CaptureFixture) -> None:
    from retraining_data import evaluation_rows, training_rows

    test_rows = evaluation_rows()
    good = retrain(tmp_path, "good", model_name, training_rows(), test_rows)
    good_tag = good["registered"]["tag"]
    assert good["registered"]["message"] == f"served now: {good_tag} (the first version of its name)"
    assert (Path(good["best_artifact"]) / "training_articles.json").is_file()
    manifest = json.loads((Path(good["best_artifact"]) / "manifest.json").read_text(encoding="utf-8"))
    assert "training_articles.json" in manifest["files"]

    worse = retrain(tmp_path, "worse", model_name, training_rows(swap=True, seed=1), test_rows)
    worse_tag = worse["registered"]["tag"]
    assert registry.default_tag(model_name) == good_tag  # registering did not change what is served
    champion = worse["champion"]
    assert champion["compared"] and champion["tag"] == good_tag and champion["articles"] == 6
    assert champion["test"]["macro_f1"] == pytest.approx(good["test"]["macro_f1"])  # same model, same articles
    assert worse["registered"]["message"] == (
        f"kept {good_tag} (the new version scored lower): the new version {worse_tag} scored "
        f"{worse['test']['macro_f1']:.4f} vs {good['test']['macro_f1']:.4f} on the same 6 articles; promote it anyway "
        f"with `python -m training models promote {worse_tag}`")
    assert "## Served model (champion) vs this run" in (tmp_path / "worse" / "report.md").read_text(encoding="utf-8")

    capsys.readouterr()
    assert main(["models", "promote", worse_tag]) == 0
    assert "a running server keeps serving the previous model until it is restarted" in capsys.readouterr().out
    better = retrain(tmp_path, "better", model_name, training_rows(seed=2), test_rows)
    assert better["champion"]["tag"] == worse_tag and better["champion"]["compared"]
    assert registry.default_tag(model_name) == better["registered"]["tag"]
    assert better["registered"]["message"].startswith(f"served now: {better['registered']['tag']} (new version: test "
                                                      f"macro-F1 {better['test']['macro_f1']:.4f} vs ")
    assert main(["models", "list", "--name", model_name]) == 0
    listing = capsys.readouterr().out
    assert [line for line in listing.splitlines() if "*served*" in line and better["registered"]["tag"] in line]
    assert "comes from its own run's test split" in listing and "python -m training evaluate" in listing


def damage(tag: str) -> str:
    """Overwrite a few bytes of a store entry's model file; returns the file's name."""
    model_file = registry.resolve(tag) / "pipeline.joblib"
    with model_file.open("r+b") as handle:
        handle.seek(64)
        handle.write(b"\x00damaged\x00")
    return model_file.name


def test_a_damaged_version_is_never_promoted_and_a_damaged_served_one_is_replaced(
        tmp_path: Path, model_name: str, capsys: pytest.CaptureFixture) -> None:
    from retraining_data import evaluation_rows, training_rows

    test_rows = evaluation_rows()
    good_tag = retrain(tmp_path, "good", model_name, training_rows(), test_rows)["registered"]["tag"]
    worse_tag = retrain(tmp_path, "worse", model_name, training_rows(swap=True, seed=1), test_rows)["registered"]["tag"]
    capsys.readouterr()
    assert main(["models", "rollback", good_tag]) == 0  # the word users reach for; good is served already
    assert capsys.readouterr().out.strip() == f"{good_tag} is already the served version of {model_name}; nothing changed"
    assert main(["models", "promote", f"{model_name}:nope"]) == 2  # the name is right: its versions are listed
    assert f"versions of {model_name}: {worse_tag}, {good_tag} (see `models list --name {model_name}`)" in \
        capsys.readouterr().err

    damaged = damage(worse_tag)
    assert main(["models", "promote", worse_tag]) == 2
    err = capsys.readouterr().err
    assert f"{damaged} is corrupt" in err and "restore it. Until then, promote another version" in err, err
    assert registry.default_tag(model_name) == good_tag

    damage(good_tag)  # the served version itself: listed with a warning, and replaced by the next run
    assert main(["models", "list", "--name", model_name]) == 0
    assert f"WARNING: the served {good_tag} cannot be loaded: " in capsys.readouterr().out
    kept = retrain(tmp_path, "never", model_name, training_rows(seed=2), test_rows, promote="never")
    assert kept["champion"]["broken"] and kept["registered"]["message"].startswith(f"kept {good_tag} (--promote never), "
                                                                                  f"although the served version")
    new = retrain(tmp_path, "next", model_name, training_rows(seed=2), test_rows)
    assert new["champion"]["broken"] and registry.default_tag(model_name) == new["registered"]["tag"]
    reason = new["champion"]["reason"]
    assert reason.startswith(f"the served version {good_tag} cannot be loaded (") and f"{damaged} is corrupt" in reason
    assert new["registered"]["message"] == f"served now: {new['registered']['tag']} ({reason})"
    (registry.resolve(new["registered"]["tag"]) / "manifest.json").write_text("{", encoding="utf-8")  # unreadable
    after = retrain(tmp_path, "after", model_name, training_rows(seed=3), test_rows)  # its labels cannot be checked
    assert after["champion"]["broken"] and registry.default_tag(model_name) == after["registered"]["tag"]


def test_overlap_skips_the_comparison(tmp_path: Path, model_name: str) -> None:
    from retraining_data import training_rows

    first = retrain(tmp_path, "first", model_name, training_rows())
    # the same articles, split with another seed: this run's test split holds articles the served model trained on
    config_rows = training_rows()
    second = retrain(tmp_path, "second", model_name, config_rows[::-1])
    champion = second["champion"]
    assert not champion["compared"] and champion["overlap"] > 0
    assert f"was trained on {champion['overlap']} of this run's" in second["registered"]["message"]
    assert registry.default_tag(model_name) == first["registered"]["tag"]


def test_label_set_change_needs_promote_always(tmp_path: Path, model_name: str) -> None:
    from retraining_data import evaluation_rows, training_rows

    from training.data.loading import DataError

    first = retrain(tmp_path, "first", model_name, training_rows(), evaluation_rows())
    three = training_rows(topics=("sport", "diplomacy", "economy"), seed=3)
    with pytest.raises(DataError, match="label 'economy' is not one the served model knows"):
        retrain(tmp_path, "undeclared", model_name, three, evaluation_rows())
    labels = ["diplomacy", "economy", "sport"]
    kept = retrain(tmp_path, "kept", model_name, three, evaluation_rows(), labels=labels)
    assert not kept["champion"]["compared"] and kept["champion"]["labels_differ"]
    assert "predicts the labels ['diplomacy', 'sport']" in kept["registered"]["message"]
    assert "serving a new label set is your decision" in kept["registered"]["message"]
    assert "evaluate" not in kept["registered"]["message"]  # no article set scores both on the same topics
    # test articles the served model trained on too: the label sets still decide the advice
    both = retrain(tmp_path, "both", model_name, three, evaluation_rows() + training_rows()[:3], labels=labels)
    assert both["champion"]["labels_differ"] and "evaluate" not in both["registered"]["message"]
    assert registry.default_tag(model_name) == first["registered"]["tag"]
    forced = retrain(tmp_path, "forced", model_name, three, evaluation_rows(), promote="always", labels=labels)
    assert registry.default_tag(model_name) == forced["registered"]["tag"]
    assert "--promote always" in forced["registered"]["message"]


def test_existing_run_directory_needs_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "report.json").write_text("{}")
    assert main(["train", "--out", str(out), "--baseline.classifiers", "logreg", "--baseline.c-values", "4"]) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert (out / "report.json").read_text() == "{}"  # refused before training
    assert main(["train", "--out", str(out), "--overwrite", "--baseline.classifiers", "logreg",
                 "--baseline.c-values", "4"]) == 0
    assert json.loads((out / "report.json").read_text())["best"] == "baseline"


def test_corrupt_store_metadata_is_named_in_one_line(baseline_run: dict, capsys: pytest.CaptureFixture) -> None:
    import shutil
    import uuid

    name = f"topics-metadata-{uuid.uuid4().hex[:8]}"
    tag = registry.register(baseline_run["best_artifact"], name)["tag"]
    entry = registry.bentoml_home() / "models" / name
    metadata = entry / tag.split(":")[1] / "model.yaml"
    metadata.write_text("garbage: [\n", encoding="utf-8")
    try:
        for command in (["models", "show", tag], ["models", "list"], ["predict", "--model", name, "--text", "نص"]):
            assert main(command) == 2, command
            last = capsys.readouterr().err.strip().splitlines()[-1]
            assert last.startswith(f"error: {metadata} line 2: the store entry's metadata is corrupt ("), last
            assert last.endswith("restore it, or delete that version's directory"), last
    finally:
        shutil.rmtree(entry)  # the session's other tests list the store
