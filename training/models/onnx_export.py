"""ONNX export of a transformer artefact and int8 dynamic quantisation.

    python -m training.models.onnx_export ARTIFACT_DIR        # adds onnx/model.onnx + onnx/model.int8.onnx in place

* ``export_onnx(classifier_or_dir, out_dir)`` traces the fine-tuned ``AutoModelForSequenceClassification`` with
  the legacy TorchScript exporter (``torch.onnx.export(..., dynamo=False)``; dynamic batch and sequence axes,
  inputs ``input_ids``/``attention_mask`` int64, output ``logits``), then quantises it with
  ``onnxruntime.quantization.quantize_dynamic`` (QInt8 weights, activations quantised per batch at run time).
* ``add_onnx_to_artifact(dir)`` exports into an existing artefact: a copy of the directory gets the ONNX files, its
  manifest's ``files`` checksums and ``model.onnx`` entry, then is swapped into place (``artifact.staged_directory``),
  so ``training.load`` still verifies every file and a crash leaves the old artefact untouched.
* Scoring with the export is the classifier's ``onnx`` backend: ``training.load(dir, backend="onnx")`` (or
  ``"auto"``), served by ``onnx_runtime.OnnxScorer``. This module imports the classifier; never the reverse.

Tokenisation, normalisation, head+tail truncation and the softmax/sigmoid stay in ``TransformerClassifier``:
ONNX replaces only the forward pass, so both paths see exactly the same token ids.
"""
from __future__ import annotations

import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .onnx_runtime import FP32_FILE, INPUT_NAMES, INT8_FILE, ONNX_DIR, OnnxScorer  # noqa: F401  (one import for users)
from .transformer import TransformerClassifier, scores_from_logits

logger = logging.getLogger(__name__)

OPSET = 17


def _logits_module(model: Any) -> Any:
    """The HF model as a module taking two tensors and returning one (no ModelOutput, no dict) for tracing."""
    import torch

    class LogitsOnly(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask, return_dict=False)[0]

    return LogitsOnly(model).eval()


def _as_classifier(source: Any) -> TransformerClassifier:
    from ..artifact import load

    classifier = load(source, backend="torch") if isinstance(source, (str, Path)) else source
    if not isinstance(classifier, TransformerClassifier):
        raise ValueError(f"ONNX export needs a transformer artefact, got {getattr(classifier, 'model_type', type(classifier).__name__)!r}")
    if classifier.model is None:
        raise ValueError("ONNX export needs the torch model: load the artefact with backend='torch'")
    return classifier


def export_onnx(source: Any, out_dir: str | Path, *, quantize: bool = True, opset: int = OPSET) -> dict:
    """Export ``source`` (a TransformerClassifier or an artefact directory) to ``out_dir/model.onnx`` and, with
    ``quantize``, ``out_dir/model.int8.onnx``. Returns the manifest entry (file names relative to ``out_dir``)."""
    import onnxruntime
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    classifier = _as_classifier(source)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = classifier.model
    device = next(model.parameters()).device
    model = model.to("cpu").float().eval()
    # Trace with 2 rows of different lengths so the mask path is exercised; axes 0 and 1 stay dynamic.
    ids = classifier.encode(["تجربة تصدير النموذج إلى أونكس مع نص أطول قليلا", "نص قصير"])
    _, input_ids, mask = next(classifier.batches(ids))
    fp32 = out_dir / FP32_FILE
    started = time.perf_counter()
    with torch.inference_mode(False), torch.no_grad():
        torch.onnx.export(
            _logits_module(model), (torch.from_numpy(input_ids), torch.from_numpy(mask)), str(fp32),
            input_names=list(INPUT_NAMES), output_names=["logits"], opset_version=opset, dynamo=False,
            dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                          "logits": {0: "batch"}}, do_constant_folding=True)
    model.to(device)
    entry = {"directory": ONNX_DIR, "fp32": f"{ONNX_DIR}/{FP32_FILE}", "int8": None, "opset": opset,
             "exporter": f"torch.onnx.export (TorchScript, dynamo=False), torch {torch.__version__}",
             "inputs": list(INPUT_NAMES), "output": "logits", "onnxruntime": onnxruntime.__version__}
    if quantize:
        int8 = out_dir / INT8_FILE
        root = logging.getLogger()
        level = root.level
        root.setLevel(max(level, logging.WARNING))  # the quantiser logs a line per tensor through the root logger
        try:
            quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=False, reduce_range=False)
        finally:
            root.setLevel(level)
        entry["int8"] = f"{ONNX_DIR}/{INT8_FILE}"
        entry["quantization"] = "onnxruntime.quantization.quantize_dynamic, QInt8 weights, dynamic uint8 activations"
    entry["export_seconds"] = round(time.perf_counter() - started, 2)
    return entry


def batched_logits(classifier: TransformerClassifier, scorer: OnnxScorer, ids: list[list[int]]) -> np.ndarray:
    """(articles, labels) logits of encoded articles from ``scorer``, batched as the classifier batches them."""
    logits = np.zeros((len(ids), len(classifier.labels)), dtype=np.float32)
    for rows, input_ids, mask in classifier.batches(ids):
        logits[rows] = scorer.logits(input_ids, mask)
    return logits


def onnx_scores(classifier: TransformerClassifier, scorer: OnnxScorer, texts: Sequence[str],
                titles: Sequence[str | None] | None = None) -> np.ndarray:
    """``classifier.predict_scores`` with the forward pass of ``scorer`` (whatever the classifier's backend)."""
    if len(texts) == 0:
        return np.zeros((0, len(classifier.labels)))
    return scores_from_logits(batched_logits(classifier, scorer, classifier.encode(texts, titles)), classifier.multi_label)


def add_onnx_to_artifact(artifact_dir: str | Path) -> dict:
    """Export into an existing transformer artefact and rewrite its manifest (files, checksums, ``model.onnx``),
    atomically: the work happens in a copy that replaces the directory only when complete. Returns the entry."""
    from ..artifact import load, read_manifest, seal, staged_directory

    path = Path(artifact_dir)
    manifest = read_manifest(path)
    if manifest.get("model_type") != "transformer":
        raise ValueError(f"{path}: ONNX export needs a transformer artefact, this is {manifest.get('model_type')!r}")
    classifier = load(path, backend="torch")  # verifies every checksum first; torch even if ONNX is already there
    with staged_directory(path, "onnx-partial") as staging:
        shutil.copytree(path, staging, dirs_exist_ok=True)
        shutil.rmtree(staging / ONNX_DIR, ignore_errors=True)
        entry = export_onnx(classifier, staging / ONNX_DIR)
        manifest.setdefault("model", {})["onnx"] = entry
        seal(staging, manifest)
    return entry


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Add an int8 ONNX model to a transformer artefact, in place.")
    parser.add_argument("artifact", help="transformer artefact directory")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from ..artifact import ArtifactError

    try:
        entry = add_onnx_to_artifact(args.artifact)
    except (ArtifactError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print({k: entry[k] for k in ("fp32", "int8", "opset", "export_seconds")})
    return 0


if __name__ == "__main__":
    sys.exit(main())
