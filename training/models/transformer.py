"""The transformer classifier: tokenise, pad, one forward backend, softmax/sigmoid; saved and loaded as an artefact.

A loaded classifier holds one forward backend, torch or ONNX Runtime (onnx_runtime.py), chosen by
``training.load(path, backend="auto"|"torch"|"onnx")``; tokenisation, normalisation, head+tail truncation
(truncation.py), padding (``DataCollatorWithPadding``) and the softmax are shared, so both see the same ids.
Fine-tuning lives in transformer_training.py, the ONNX exporter in onnx_export.py: both import this module,
never the reverse.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..artifact import ArtifactError, Classifier
from ..data.loading import compose_inputs
from ..data.normalize import ArabicNormalizer
from .onnx_runtime import ONNX_DIR, OnnxScorer, choose_backend
from .truncation import encode_articles, special_affixes

logger = logging.getLogger(__name__)

MODEL_DIR = "model"


class TransformerClassifier(Classifier):
    """Scores articles with a fine-tuned encoder; ``model`` (torch) or ``onnx_session`` (ONNX Runtime) runs the
    forward pass, never both: an artefact loaded with the ONNX backend does not even read the torch weights."""

    model_type = "transformer"

    def __init__(self, model: Any, tokenizer: Any, normalizer: ArabicNormalizer, *, source: str, source_kind: str,
                 normalizer_preset: str, max_length: int, truncation: str = "head_tail", head_fraction: float = 0.25,
                 batch_size: int = 8, onnx_session: OnnxScorer | None = None, **kwargs: Any) -> None:
        from transformers import DataCollatorWithPadding

        super().__init__(**kwargs)
        if (model is None) == (onnx_session is None):
            raise ValueError("TransformerClassifier needs exactly one forward backend: a torch model or an ONNX session")
        self.model = model.eval() if model is not None else None
        self.onnx_session = onnx_session
        self.tokenizer = tokenizer
        self.tokenizer.model_max_length = max_length  # some Arabic tokenizers report 1e30
        self.collator = DataCollatorWithPadding(tokenizer, return_tensors="np")
        self.normalizer = normalizer
        self.source, self.source_kind, self.normalizer_preset = source, source_kind, normalizer_preset
        self.max_length, self.truncation, self.head_fraction = max_length, truncation, head_fraction
        self.batch_size = batch_size
        self.affixes = special_affixes(tokenizer)
        # set by fine-tuning with --transformer.export-onnx: writes int8 ONNX into the artefact as it is saved
        self.onnx_exporter: Callable[["TransformerClassifier", Path], dict] | None = None
        self.entries: dict = {}  # the manifest's model entries it was loaded from (ONNX files to carry over)

    @property
    def backend(self) -> str:
        return "torch" if self.model is not None else "onnx"

    def encode(self, texts: Sequence[str], titles: Sequence[str | None] | None = None) -> list[list[int]]:
        """Token ids (special tokens included) of normalised title + body, truncated to max_length."""
        inputs = self.normalizer.transform(compose_inputs(texts, titles))
        return encode_articles(self.tokenizer, inputs, self.max_length, self.truncation, self.head_fraction, self.affixes)

    def predict_scores(self, texts: Sequence[str], titles: Sequence[str | None] | None = None) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, len(self.labels)))
        return scores_from_logits(self.logits(self.encode(texts, titles)), self.multi_label)

    def batches(self, ids: list[list[int]]) -> Any:
        """(rows, input_ids, attention_mask) int64 batches of similar length, longest first (less padding)."""
        order = np.argsort([-len(row) for row in ids], kind="stable")
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            batch = self.collator([{"input_ids": ids[r]} for r in rows])
            yield rows, batch["input_ids"].astype(np.int64), batch["attention_mask"].astype(np.int64)

    def logits(self, ids: list[list[int]], backend: str | None = None) -> np.ndarray:
        """Logits of encoded articles from this classifier's backend (``backend="torch"`` insists on torch)."""
        if (backend or self.backend) == "torch" and self.model is None:
            raise ValueError("this classifier was loaded with the ONNX backend; load it with backend='torch' for torch logits")
        logits = np.zeros((len(ids), len(self.labels)), dtype=np.float32)
        if (backend or self.backend) == "onnx":
            for rows, input_ids, mask in self.batches(ids):
                logits[rows] = self.onnx_session.logits(input_ids, mask)
            return logits
        device = next(self.model.parameters()).device
        with torch.inference_mode():
            for rows, input_ids, mask in self.batches(ids):
                out = self.model(input_ids=torch.from_numpy(input_ids).to(device), attention_mask=torch.from_numpy(mask).to(device))
                logits[rows] = out.logits.float().cpu().numpy()
        return logits

    def save_model_files(self, directory: Path) -> dict:
        if self.model is None:
            raise ArtifactError("a transformer loaded with the ONNX backend cannot be saved again; load it with backend='torch'")
        target = directory / MODEL_DIR
        self.model.save_pretrained(str(target), safe_serialization=True)
        self.tokenizer.save_pretrained(str(target))
        # into the staging directory, so artifact.save checksums the ONNX files too
        onnx = self.onnx_exporter(self, directory / ONNX_DIR) if self.onnx_exporter else None
        return {"directory": MODEL_DIR, "source": self.source, "source_kind": self.source_kind,
                "architecture": type(self.model).__name__, "parameters": int(sum(p.numel() for p in self.model.parameters())),
                "max_length": self.max_length, "truncation": self.truncation, "head_fraction": self.head_fraction,
                "normalizer_preset": self.normalizer_preset, "batch_size": self.batch_size, "onnx": onnx}

    @classmethod
    def load_model_files(cls, directory: Path, manifest: dict, backend: str = "auto") -> "TransformerClassifier":
        """``backend``: torch, onnx (the artefact's int8 model; an error without one) or auto (onnx when the
        artefact has it and ARABIC_NEWS_ONNX is not 0, else torch)."""
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        entries = manifest.get("model", {})
        model_dir = directory / entries.get("directory", MODEL_DIR)
        try:
            onnx_session = choose_backend(backend, directory, entries)
            normalizer = ArabicNormalizer(**manifest.get("normalizer", {}))
            tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
            model = None if onnx_session is not None else \
                AutoModelForSequenceClassification.from_pretrained(str(model_dir), dtype=torch.float32)
        except (OSError, ValueError, TypeError) as exc:
            raise ArtifactError(f"{directory}: cannot load the transformer ({type(exc).__name__}: {exc}); "
                                "retrain or restore the artefact") from None
        classifier = cls(model, tokenizer, normalizer, source=entries.get("source", ""), source_kind=entries.get("source_kind", ""),
                         normalizer_preset=entries.get("normalizer_preset", "default"), max_length=int(entries["max_length"]),
                         truncation=entries.get("truncation", "head_tail"), head_fraction=float(entries.get("head_fraction", 0.25)),
                         batch_size=int(entries.get("batch_size", 8)), onnx_session=onnx_session, labels=manifest["labels"], multi_label=manifest["multi_label"],
                         thresholds=manifest.get("thresholds"), low_confidence=manifest.get("low_confidence", 0.5))
        classifier.entries = entries
        return classifier

    def describe(self) -> dict:
        return {**super().describe(), "normalizer": self.normalizer.get_params(), "normalizer_preset": self.normalizer_preset,
                "backend": self.backend}


def scores_from_logits(logits: np.ndarray, multi_label: bool) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    if multi_label:
        return 1.0 / (1.0 + np.exp(-logits))
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)
