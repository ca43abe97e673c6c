"""ONNX Runtime forward pass of an exported transformer: the ``onnx`` backend of ``TransformerClassifier``.

Imports neither torch nor the transformer module, so the classifier can import it and the exporter
(``onnx_export.py``, which imports the classifier) stays one-way. The artefact lists its exported files under
``manifest["model"]["onnx"]`` (``fp32`` and ``int8`` paths relative to the artefact directory).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

ONNX_DIR = "onnx"
FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
INPUT_NAMES = ("input_ids", "attention_mask")
ENV_SWITCH = "ARABIC_NEWS_ONNX"          # "0": backend "auto" scores with torch even when ONNX is present
ENV_THREADS = "ARABIC_NEWS_ONNX_THREADS"  # intra-op threads of the session (default: torch's thread count)
BACKENDS = ("auto", "torch", "onnx")


def default_threads() -> int:
    """``ARABIC_NEWS_ONNX_THREADS``, else torch's intra-op thread count (the service sizes it per worker)."""
    if raw := os.environ.get(ENV_THREADS, "").strip():
        if not raw.isdigit():
            from ..artifact import ArtifactError

            raise ArtifactError(f"{ENV_THREADS}={raw!r}: expected a whole number of threads, e.g. 2; unset it to use "
                                "torch's thread count")
        return max(1, int(raw))
    try:
        import torch

        return max(1, torch.get_num_threads())
    except ImportError:
        return 1


def onnx_enabled() -> bool:
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


class OnnxScorer:
    """Logits from an exported model: ``scorer.logits(input_ids, attention_mask)`` with int64 (batch, seq)
    arrays, the same padded batches the torch backend gets."""

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


def int8_path(directory: str | Path, entries: dict) -> Path | None:
    """The artefact's int8 ONNX file when its manifest lists one and it exists, else None."""
    relative = (entries.get("onnx") or {}).get("int8")
    path = Path(directory) / relative if relative else None
    return path if path is not None and path.is_file() else None


def choose_backend(backend: str, directory: str | Path, entries: dict) -> OnnxScorer | None:
    """An ``OnnxScorer`` for backend ``onnx`` (required) or ``auto`` (when the artefact has int8 ONNX and
    ARABIC_NEWS_ONNX is not 0); None means torch."""
    if backend not in BACKENDS:
        raise ValueError(f"backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    path = int8_path(directory, entries)
    if backend == "onnx" and path is None:
        raise FileNotFoundError(f"{directory}: backend 'onnx' needs an int8 ONNX model in the artefact; add one with "
                                f"`python -m training.models.onnx_export {directory}` or load with backend='torch'")
    if backend == "torch" or path is None or (backend == "auto" and not onnx_enabled()):
        return None
    scorer = OnnxScorer(path)
    logger.info("scoring with ONNX Runtime: %s", scorer)
    return scorer
