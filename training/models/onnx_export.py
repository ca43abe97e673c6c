"""ONNX export of a transformer artefact, int8 dynamic quantisation, and an ONNX Runtime scorer.

    python -m training.models.onnx_export ARTIFACT_DIR        # adds onnx/model.onnx + onnx/model.int8.onnx in place

* ``export_onnx(classifier_or_dir, out_dir)`` traces the fine-tuned ``AutoModelForSequenceClassification`` with
  the legacy TorchScript exporter (``torch.onnx.export(..., dynamo=False)``; dynamic batch and sequence axes,
  inputs ``input_ids``/``attention_mask`` int64, output ``logits``), then quantises it with
  ``onnxruntime.quantization.quantize_dynamic`` (QInt8 weights, activations quantised per batch at run time).
* ``OnnxScorer`` runs one of those files in an ``onnxruntime.InferenceSession`` with an explicit thread count and
  returns the logits torch would (``batched_logits`` mirrors ``TransformerClassifier._torch_logits``).
* ``add_onnx_to_artifact(dir)`` exports into an existing artefact: a copy of the directory gets the ONNX files, its
  manifest's ``files`` checksums and ``model.onnx`` entry, then is swapped into place (``artifact.staged_directory``),
  so ``training.load`` still verifies every file and a crash leaves the old artefact untouched.
* ``attach_onnx(classifier, dir, entries)`` is the loading seam: it gives ``TransformerClassifier`` an
  ``OnnxScorer`` as ``onnx_session`` when the manifest lists an int8 model and ``ARABIC_NEWS_ONNX`` is not ``0``.

Tokenisation, normalisation, head+tail truncation and the softmax/sigmoid stay in ``TransformerClassifier``:
ONNX replaces only the forward pass, so both paths see exactly the same token ids.
"""
from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

logger = logging.getLogger(__name__)

ONNX_DIR = "onnx"
FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
OPSET = 17
INPUT_NAMES = ("input_ids", "attention_mask")
ENV_SWITCH = "ARABIC_NEWS_ONNX"          # "0": ignore the ONNX model and score with torch
ENV_THREADS = "ARABIC_NEWS_ONNX_THREADS"  # intra-op threads of the session (default: torch's thread count)


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


def _as_classifier(source: Any) -> Any:
    from ..artifact import load

    classifier = load(source) if isinstance(source, (str, Path)) else source
    if getattr(classifier, "model_type", None) != "transformer":
        raise ValueError(f"ONNX export needs a transformer artefact, got {getattr(classifier, 'model_type', type(classifier).__name__)!r}")
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
    from .transformer import pad_batch

    input_ids, mask = pad_batch(ids, _pad_id(classifier))
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


def _pad_id(classifier: Any) -> int:
    return classifier.tokenizer.pad_token_id or 0


def default_threads() -> int:
    """``ARABIC_NEWS_ONNX_THREADS``, else torch's intra-op thread count (the service sizes it per worker)."""
    if os.environ.get(ENV_THREADS):
        return max(1, int(os.environ[ENV_THREADS]))
    try:
        import torch

        return max(1, torch.get_num_threads())
    except ImportError:
        return 1


class OnnxScorer:
    """Logits from an exported model: ``scorer.logits(input_ids, attention_mask)`` with int64 (batch, seq)
    arrays, the same arrays ``TransformerClassifier._batches`` feeds torch."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        self.threads = threads or default_threads()
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads   # explicit: ORT's default is every core, bad on a shared box
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy-waiting between calls
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": np.ascontiguousarray(input_ids, dtype=np.int64),
                "attention_mask": np.ascontiguousarray(attention_mask, dtype=np.int64)}
        return self.session.run(["logits"], {k: v for k, v in feed.items() if k in self.input_names})[0]

    __call__ = logits

    def __repr__(self) -> str:
        return f"OnnxScorer({str(self.path)!r}, threads={self.threads})"


def batched_logits(classifier: Any, scorer: OnnxScorer, ids: list[list[int]]) -> np.ndarray:
    """(articles, labels) logits for encoded articles, batched like ``_torch_logits`` (length-sorted batches)."""
    logits = np.zeros((len(ids), len(classifier.labels)), dtype=np.float32)
    for rows, input_ids, mask in classifier._batches(ids):
        logits[rows] = scorer.logits(input_ids, mask)
    return logits


def onnx_scores(classifier: Any, scorer: OnnxScorer, texts: Sequence[str], titles: Sequence[str | None] | None = None) -> np.ndarray:
    """``classifier.predict_scores`` with the forward pass in ONNX Runtime (independent of the seam)."""
    from .transformer import scores_from_logits

    if len(texts) == 0:
        return np.zeros((0, len(classifier.labels)))
    return scores_from_logits(batched_logits(classifier, scorer, classifier.encode(texts, titles)), classifier.multi_label)


def onnx_enabled() -> bool:
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


def attach_onnx(classifier: Any, directory: str | Path, entries: dict | None = None) -> bool:
    """Loading seam: score ``classifier`` with its artefact's int8 ONNX model when there is one and
    ``ARABIC_NEWS_ONNX`` is not 0. Returns whether it did."""
    entry = (entries if entries is not None else classifier.manifest.get("model", {})).get("onnx") or {}
    relative = entry.get("int8")
    if not relative or not onnx_enabled():
        return False
    path = Path(directory) / relative
    if not path.is_file():
        return False
    classifier.onnx_session = OnnxScorer(path)
    logger.info("scoring with ONNX Runtime: %s", classifier.onnx_session)
    return True


def add_onnx_to_artifact(artifact_dir: str | Path) -> dict:
    """Export into an existing transformer artefact and rewrite its manifest (files, checksums, ``model.onnx``),
    atomically: the work happens in a copy that replaces the directory only when complete. Returns the entry."""
    from ..artifact import load, read_manifest, seal, staged_directory

    path = Path(artifact_dir)
    manifest = read_manifest(path)
    if manifest.get("model_type") != "transformer":
        raise ValueError(f"{path}: ONNX export needs a transformer artefact, this is {manifest.get('model_type')!r}")
    previous = os.environ.get(ENV_SWITCH)
    os.environ[ENV_SWITCH] = "0"  # load the torch model even if the artefact already has an ONNX one
    try:
        classifier = load(path)  # verifies every checksum first
    finally:
        if previous is None:
            os.environ.pop(ENV_SWITCH, None)
        else:
            os.environ[ENV_SWITCH] = previous
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
    entry = add_onnx_to_artifact(args.artifact)
    print({k: entry[k] for k in ("fp32", "int8", "opset", "export_seconds")})
    return 0


if __name__ == "__main__":
    sys.exit(main())
