"""ONNX export: fp32 parity with torch, int8 agreement, the artefact rewrite and its checksums, the backends
chosen at load time, and no import cycle between the classifier and the exporter.

A tiny compact encoder is trained for a few dozen steps on the built-in sample corpus (so its logits carry a
signal and int8 agreement means something), saved as a real artefact, then exported.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from training.config import TransformerConfig  # noqa: E402


@pytest.fixture(scope="module")
def tiny_artifact(tmp_path_factory, sample_data) -> Path:
    from training.artifact import save
    from training.config import CompactEncoderConfig
    from training.models.transformer_training import train_transformer

    config = TransformerConfig(max_length=64, batch_size=16, evals_per_epoch=1, threads=1, predict_batch_size=8,
                               compact=CompactEncoderConfig(vocab_size=2000, layers=2, hidden=128, heads=2), epochs=12,
                               early_stopping_patience=0, max_steps=100)
    work = tmp_path_factory.mktemp("onnx-work")
    classifier, _ = train_transformer(sample_data, config, seed=13, work_dir=work / "w")
    return save(classifier, work / "artifact")


@pytest.fixture(scope="module")
def exported(tiny_artifact, tmp_path_factory) -> Path:
    """A copy of the tiny artefact with the ONNX models added through ``add_onnx_to_artifact``."""
    from training.models.onnx_export import add_onnx_to_artifact

    target = tmp_path_factory.mktemp("onnx-exported") / "artifact"
    shutil.copytree(tiny_artifact, target)
    add_onnx_to_artifact(target)
    return target


@pytest.fixture(scope="module")
def torch_classifier(exported):
    """The exported artefact loaded with the torch backend."""
    import training

    return training.load(exported, backend="torch")


def _inputs(data):
    split = data.test
    return list(split.texts), list(split.titles)


@pytest.mark.slow  # trains a tiny encoder for 100 steps (once per module)
def test_fp32_logits_match_torch(exported, torch_classifier, sample_data) -> None:
    from training.models.onnx_export import FP32_FILE, ONNX_DIR, OnnxScorer, batched_logits

    texts, titles = _inputs(sample_data)
    ids = torch_classifier.encode(texts, titles)
    scorer = OnnxScorer(exported / ONNX_DIR / FP32_FILE, threads=1)
    expected = torch_classifier.logits(ids, backend="torch")
    np.testing.assert_allclose(batched_logits(torch_classifier, scorer, ids), expected, atol=1e-4, rtol=0)
    # dynamic axes: one article alone (no padding) and a single long padded batch give the same logits
    for row in (0, len(ids) - 1):
        single = scorer.logits(np.asarray([ids[row]], dtype=np.int64), np.ones((1, len(ids[row])), dtype=np.int64))
        np.testing.assert_allclose(single[0], expected[row], atol=1e-4, rtol=0)
    width = max(map(len, ids))
    padded = np.zeros((len(ids), width), dtype=np.int64)
    mask = np.zeros_like(padded)
    for i, row in enumerate(ids):
        padded[i, :len(row)], mask[i, :len(row)] = row, 1
    np.testing.assert_allclose(scorer.logits(padded, mask), expected, atol=1e-4, rtol=0)


@pytest.mark.slow  # trains a tiny encoder for 100 steps (once per module)
def test_int8_agrees_with_torch_on_the_test_split(exported, torch_classifier, sample_data) -> None:
    from training.models.onnx_export import INT8_FILE, ONNX_DIR, OnnxScorer, onnx_scores

    texts, titles = _inputs(sample_data)
    expected = torch_classifier.predict_scores(texts, titles)
    got = onnx_scores(torch_classifier, OnnxScorer(exported / ONNX_DIR / INT8_FILE, threads=1), texts, titles)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 0.15  # probabilities, not just the argmax, stay close
    # A few dozen training steps on ~250 articles sometimes leave two labels nearly tied for some articles;
    # int8 rounding may flip those, which says nothing about the export. Count articles torch decides by a
    # margin of at least 0.05 in score, more than int8 rounding moves a score here.
    top2 = np.sort(expected, axis=1)[:, -2:]
    decided = (top2[:, 1] - top2[:, 0]) >= 0.05
    agreement = float((got.argmax(axis=1) == expected.argmax(axis=1))[decided].mean()) if decided.any() else 1.0
    assert agreement >= 0.95, (f"int8 agrees with torch on {agreement:.1%} of {int(decided.sum())} decided articles; "
                               f"largest score change {np.abs(got - expected).max():.3f}")
    assert onnx_scores(torch_classifier, OnnxScorer(exported / ONNX_DIR / INT8_FILE), [], None).shape == (0, len(torch_classifier.labels))


@pytest.mark.slow  # trains a tiny encoder for 100 steps (once per module)
def test_manifest_lists_the_onnx_files_and_checksums_verify(tiny_artifact, exported) -> None:
    from training.artifact import ArtifactError, load, read_manifest, verify_files

    before, after = read_manifest(tiny_artifact), read_manifest(exported)
    entry = after["model"]["onnx"]
    assert entry["int8"] == "onnx/model.int8.onnx" and entry["fp32"] == "onnx/model.onnx" and entry["opset"] >= 17
    assert set(after["files"]) == set(before["files"]) | {"onnx/model.onnx", "onnx/model.int8.onnx"}
    assert all(after["files"][name] == digest for name, digest in before["files"].items())
    verify_files(exported, after)
    assert load(exported).labels == before["labels"]
    assert not list(exported.parent.glob(".*partial*")), "staging directory left behind"
    assert (exported / "README.md").is_file()

    corrupt = exported.parent / "corrupt"
    shutil.copytree(exported, corrupt)
    with (corrupt / "onnx" / "model.int8.onnx").open("r+b") as handle:
        handle.seek(100)
        handle.write(b"\x00\x01\x02\x03")
    with pytest.raises(ArtifactError, match="model.int8.onnx is corrupt"):
        load(corrupt)


@pytest.mark.slow  # trains a tiny encoder for 100 steps (once per module)
def test_adding_twice_replaces_the_export(exported, tmp_path) -> None:
    from training.artifact import load, read_manifest
    from training.models.onnx_export import add_onnx_to_artifact

    again = tmp_path / "again"
    shutil.copytree(exported, again)
    add_onnx_to_artifact(again)
    manifest = read_manifest(again)
    assert sorted(p.name for p in (again / "onnx").iterdir()) == ["model.int8.onnx", "model.onnx"]
    assert sum(name.startswith("onnx/") for name in manifest["files"]) == 2
    load(again)


@pytest.mark.slow  # trains a tiny encoder for 100 steps (once per module)
def test_a_failed_export_leaves_the_artefact_untouched(tiny_artifact, tmp_path, monkeypatch) -> None:
    import training.models.onnx_export as onnx_export

    target = tmp_path / "artifact"
    shutil.copytree(tiny_artifact, target)
    manifest_before = (target / "manifest.json").read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(onnx_export, "export_onnx", broken)
    with pytest.raises(RuntimeError, match="exporter crashed"):
        onnx_export.add_onnx_to_artifact(target)
    assert (target / "manifest.json").read_bytes() == manifest_before
    assert not (target / "onnx").exists()
    assert not list(tmp_path.glob(".*partial*"))


@pytest.mark.slow  # trains a tiny encoder for 100 steps (once per module)
def test_scorer_threads_and_backend_choice(tiny_artifact, exported, monkeypatch) -> None:
    import training
    from training.artifact import ArtifactError
    from training.models.onnx_export import INT8_FILE, ONNX_DIR, OnnxScorer

    assert OnnxScorer(exported / ONNX_DIR / INT8_FILE, threads=1).threads == 1
    monkeypatch.setenv("ARABIC_NEWS_ONNX_THREADS", "2")
    assert OnnxScorer(exported / ONNX_DIR / INT8_FILE).threads == 2

    onnx = training.load(exported, backend="onnx")
    assert onnx.backend == "onnx" and onnx.model is None and onnx.describe()["backend"] == "onnx"
    assert training.load(exported, backend="torch").onnx_session is None
    assert training.load(tiny_artifact).backend == "torch"  # auto without an export
    monkeypatch.setenv("ARABIC_NEWS_ONNX", "0")
    assert training.load(exported).backend == "torch"  # the operator's switch for auto
    assert training.load(exported, backend="onnx").backend == "onnx"  # an explicit backend wins
    with pytest.raises(ArtifactError, match="backend 'onnx' needs an int8 ONNX model.*onnx_export"):
        training.load(tiny_artifact, backend="onnx")
    with pytest.raises(ArtifactError, match="expected auto, torch or onnx"):
        training.load(exported, backend="tensorrt")
    with pytest.raises(ArtifactError, match="cannot be saved again"):
        onnx.save_model_files(Path("unused"))
    monkeypatch.setenv("ARABIC_NEWS_ONNX_THREADS", "two")  # the setting is wrong, not the model
    with pytest.raises(ArtifactError, match="^ARABIC_NEWS_ONNX_THREADS='two': expected a whole number of threads"):
        training.load(exported, backend="onnx")


@pytest.mark.slow  # a fresh interpreter importing torch and transformers
def test_the_classifier_does_not_import_the_exporter() -> None:
    """One-way dependency: onnx_export imports the classifier; the classifier and its ONNX backend never import it."""
    import subprocess
    import sys

    code = ("import sys, training.models.transformer, training.models.onnx_runtime; "
            "print(sorted(m for m in sys.modules if m.endswith(('onnx_export', 'transformer_training'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


@pytest.mark.slow  # trains a tiny encoder for 100 steps (once per module)
def test_export_command_line(tiny_artifact, tmp_path) -> None:
    """``python -m training.models.onnx_export DIR`` adds the export in place; a bad directory is one error line."""
    import subprocess
    import sys

    import training

    target = tmp_path / "artifact"
    shutil.copytree(tiny_artifact, target)
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-m", "training.models.onnx_export", str(target)], capture_output=True,
                          text=True, timeout=600, cwd=repo)
    assert done.returncode == 0, done.stderr[-2000:]
    assert training.load(target).backend == "onnx"
    missing = subprocess.run([sys.executable, "-m", "training.models.onnx_export", str(tmp_path / "nope")],
                             capture_output=True, text=True, timeout=300, cwd=repo)
    assert missing.returncode == 2 and "no such artefact directory" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_only_transformers_export(tmp_path) -> None:
    from training.models.onnx_export import export_onnx

    class NotATransformer:
        model_type = "baseline"

    with pytest.raises(ValueError, match="transformer"):
        export_onnx(NotATransformer(), tmp_path)


@pytest.mark.slow  # trains a tiny encoder for 100 steps (once per module)
def test_onnx_backend_scores_with_the_int8_model(exported, torch_classifier, sample_data) -> None:
    """Loading an artefact that carries int8 ONNX scores with ONNX Runtime (backend auto)."""
    import training
    from training.models.onnx_export import INT8_FILE, ONNX_DIR, OnnxScorer, onnx_scores

    classifier = training.load(exported)
    assert isinstance(classifier.onnx_session, OnnxScorer)
    assert classifier.onnx_session.path == exported / ONNX_DIR / INT8_FILE
    texts, titles = _inputs(sample_data)
    scores = classifier.predict_scores(texts, titles)
    # The backend routes the forward pass: it must give exactly the int8 scores (their closeness to torch is
    # test_int8_agrees_with_torch_on_the_test_split's job, which allows for near-ties)
    int8 = onnx_scores(torch_classifier, OnnxScorer(exported / ONNX_DIR / INT8_FILE,
                                                    threads=classifier.onnx_session.threads), texts, titles)
    assert np.allclose(scores, int8, atol=1e-6)
    assert not np.allclose(scores, torch_classifier.predict_scores(texts, titles), atol=1e-6)  # not torch
