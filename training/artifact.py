"""The self-describing model artefact: one directory, one interface for every model type.

A directory holds ``manifest.json`` (labels, preprocessing, config, data fingerprint, metrics, versions,
commit), the model files and a generated ``README.md`` model card. ``load(path)`` returns a
``Classifier`` whose ``predict(texts, titles=None)`` is all that serving and notebooks use.
"""
from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import logging
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import uuid
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar, Iterator, Sequence

import numpy as np

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # 2: modules moved into packages (training.models.*, training.data.*); schema 1 pickles cannot load
MANIFEST = "manifest.json"
MODEL_CARD = "README.md"
MODEL_TYPES = {"baseline": "training.models.baseline:BaselineClassifier", "transformer": "training.models.transformer:TransformerClassifier",
               "ensemble": "training.models.ensemble:EnsembleClassifier"}
TRACKED_LIBRARIES = ("scikit-learn", "numpy", "torch", "transformers", "tokenizers", "pyarabic", "onnxruntime")
VERSION_CRITICAL = {"baseline": ("scikit-learn",), "transformer": ("torch", "transformers", "tokenizers"),
                    "ensemble": ("scikit-learn", "torch", "transformers", "tokenizers")}


class ArtifactError(RuntimeError):
    """An artefact directory that cannot be loaded; the message names the path and the problem."""


@dataclass
class Prediction:
    label: str
    labels: list[str]
    scores: dict[str, float]
    low_confidence: bool

    def to_dict(self) -> dict:
        return asdict(self)


class Classifier(ABC):
    """A trained topic classifier. Subclasses score composed inputs; decoding to labels is shared."""

    model_type: ClassVar[str]

    def __init__(self, labels: Sequence[str], multi_label: bool, thresholds: Sequence[float] | None = None,
                 low_confidence: float = 0.5, manifest: dict | None = None) -> None:
        self.labels = list(labels)
        self.multi_label = multi_label
        self.thresholds = np.asarray(thresholds if thresholds is not None else [0.5] * len(self.labels), dtype=float)
        self.low_confidence = low_confidence
        self.manifest: dict = manifest or {}

    @abstractmethod
    def predict_scores(self, texts: Sequence[str], titles: Sequence[str | None] | None = None) -> np.ndarray:
        """(articles, labels) scores: probabilities summing to 1, or independent per-label probabilities when multi-label."""

    @abstractmethod
    def save_model_files(self, directory: Path) -> dict:
        """Write the model's own files into ``directory``; return model-specific manifest entries."""

    @classmethod
    @abstractmethod
    def load_model_files(cls, directory: Path, manifest: dict) -> "Classifier":
        """Rebuild the classifier from ``save_model_files`` output."""

    def predict(self, texts: Sequence[str], titles: Sequence[str | None] | None = None) -> list[Prediction]:
        return self.decode(self.predict_scores(texts, titles))

    def decode(self, scores: np.ndarray) -> list[Prediction]:
        """Primary label is the top score; with multi-label models, every label over its threshold joins it."""
        predictions = []
        for row in np.asarray(scores, dtype=float):
            order = np.argsort(-row, kind="stable")
            primary = int(order[0])
            labels = [self.labels[primary]]
            if self.multi_label:
                labels += [self.labels[i] for i in order[1:] if row[i] >= self.thresholds[i]]
            predictions.append(Prediction(
                label=self.labels[primary],
                labels=labels,
                scores={label: round(float(score), 6) for label, score in zip(self.labels, row)},
                low_confidence=bool(row[primary] < self.low_confidence),
            ))
        return predictions

    def describe(self) -> dict:
        return {"model_type": self.model_type, "labels": self.labels, "multi_label": self.multi_label,
                "thresholds": [round(float(t), 4) for t in self.thresholds], "low_confidence": self.low_confidence}


# -------------------------------------------------------------------------------------------- provenance

def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in TRACKED_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def git_commit() -> str | None:
    """The commit of the code that trained the model, marked dirty when the work tree has changes."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return commit.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def command_line(argv: list[str] | None = None) -> str:
    """How this process was started, as a command that runs again: ``python -m training ...`` for the CLI (whose
    argv[0], the package's ``__main__.py``, cannot run as a script), quoted as a shell needs it."""
    argv = list(sys.argv if argv is None else argv)
    main = Path(argv[0]) if argv else Path()
    if main.name == "__main__.py" and main.parent.name == __package__:
        return shlex.join(["python", "-m", __package__, *argv[1:]])
    return shlex.join(["python", *argv] if main.suffix == ".py" else argv)  # a script, e.g. a benchmark


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


# ---------------------------------------------------------------------------------------------- saving

def refuse_non_empty(out: Path, allowed: bool, fix: str) -> None:
    """Stop before a command writes into a directory that already holds something, unless the user ``allowed`` it
    (--overwrite, --resume); ``fix`` says what to do."""
    from .settings import ConfigError

    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: a file, not a directory; choose another --out")
    if not allowed and out.is_dir() and any(out.iterdir()):
        raise ConfigError(f"{out}: not empty; {fix}")


def refuse_existing(paths: Sequence[Path], allowed: bool, fix: str) -> None:
    """Stop before a command replaces a file it writes, unless the user ``allowed`` it (--overwrite)."""
    from .settings import ConfigError

    if not allowed and (existing := [path for path in paths if path.exists()]):
        raise ConfigError(f"{existing[0]}: already exists; {fix}")


def same_file(one: str | Path, other: str | Path) -> bool:
    """Whether two paths name one file (through links, or another spelling on a case-insensitive disk): an output
    that is the command's own input would replace it."""
    try:
        return os.path.samefile(one, other)
    except OSError:  # one of them does not exist yet
        return Path(one).resolve() == Path(other).resolve()


@contextmanager
def staged_directory(path: Path, kind: str = "partial") -> Iterator[Path]:
    """A temporary sibling of ``path`` to fill; swapped into place on success, removed on any failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.{kind}-*"):  # left by a run killed with SIGKILL
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.{kind}-", dir=path.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp's private 0700 would keep a serving account from reading the model
    try:
        yield staging
        for item in staging.rglob("*"):  # so do files some writers create 0600 (safetensors does)
            item.chmod((0o777 if item.is_dir() else 0o666) & ~umask)
        _replace_dir(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def seal(staging: Path, manifest: dict) -> None:
    """Record a checksum of every model file, then write the model card and the manifest."""
    manifest["files"] = {str(p.relative_to(staging)): _sha256(p) for p in sorted(staging.rglob("*"))
                         if p.is_file() and p.relative_to(staging).as_posix() not in (MANIFEST, MODEL_CARD)}
    (staging / MODEL_CARD).write_text(model_card(manifest), encoding="utf-8")
    _write_json(staging / MANIFEST, manifest)


def save(classifier: Classifier, path: str | Path, provenance: dict | None = None,
         extra_files: dict[str, Any] | None = None) -> Path:
    """Write the artefact atomically: into a temporary sibling directory, then renamed into place.
    ``extra_files``: file name -> JSON value, written beside the model files and checksummed with them."""
    path = Path(path)
    with staged_directory(path) as staging:
        model_entries = classifier.save_model_files(staging)
        for name, value in (extra_files or {}).items():
            _write_json(staging / name, value)
        manifest = {
            "schema_version": SCHEMA_VERSION,
            **classifier.describe(),
            **(provenance or {}),
            "model": model_entries,
            "library_versions": library_versions(),
            "git_commit": git_commit(),
            "command_line": command_line(),
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        seal(staging, manifest)
        classifier.manifest = manifest
    return path


def _write_json(path: Path, value: Any) -> None:
    _write_durably(path, json.dumps(value, ensure_ascii=False, indent=2, default=_json_default))


def _write_durably(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_json_atomic(path: str | Path, value: Any) -> None:
    write_text_atomic(path, json.dumps(value, ensure_ascii=False, indent=2, default=_json_default))


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to a temporary sibling, then rename it over ``path``: readers see the old file or the new one,
    never half of one. Missing parent directories are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    try:
        _write_durably(partial, text)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _replace_dir(staging: Path, target: Path) -> None:
    """Swap a finished directory into place; an existing artefact is only removed once the new one is there."""
    if target.exists():
        retired = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(target, retired)
        os.replace(staging, target)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(staging, target)


# --------------------------------------------------------------------------------------------- loading

def read_manifest(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_dir():
        raise ArtifactError(f"{path}: no such artefact directory; expected a directory written by `python -m training train`")
    manifest_path = path / MANIFEST
    if not manifest_path.is_file() and (path / "artifacts").is_dir():  # a training run's directory
        found = sorted(p.name for p in (path / "artifacts").iterdir() if (p / MANIFEST).is_file())
        try:
            best = json.loads((path / "report.json").read_text(encoding="utf-8")).get("best")
        except (OSError, ValueError, AttributeError):
            best = None
        advice = (f"such as its best {path / 'artifacts' / best} (it has {', '.join(found)})" if best in found else
                  f"{path / 'artifacts'}/NAME with NAME one of {', '.join(found)}" if found else
                  "but it holds none; retrain")
        raise ArtifactError(f"{path}: a training run, not an artefact; give one of its models, {advice}")
    if not manifest_path.is_file():
        raise ArtifactError(f"{path}: incomplete artefact, {MANIFEST} is missing; retrain or copy the whole directory")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{manifest_path}: corrupt manifest ({exc}); retrain or restore the artefact") from None
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{manifest_path}: corrupt manifest (expected a JSON object); retrain or restore the artefact")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise ArtifactError(f"{path}: artefact schema version {manifest.get('schema_version')!r}, this code reads "
                            f"{SCHEMA_VERSION}; retrain with this version or use the matching release")
    return manifest


def verify_files(path: Path, manifest: dict) -> None:
    """Every model file must be present and unchanged since training (checksums from the manifest)."""
    for name, expected in manifest.get("files", {}).items():
        file = path / name
        if not file.is_file():
            raise ArtifactError(f"{path}: incomplete artefact, {name} is missing; retrain or copy the whole directory")
        if _sha256(file) != expected:
            raise ArtifactError(f"{path}: {name} is corrupt (checksum differs from the manifest); retrain or restore it")


def load(path: str | Path, backend: str = "auto") -> Classifier:
    """Load any artefact directory written by this package: ``load(path).predict(texts, titles)``.

    ``backend`` (transformers; other model types ignore it): ``torch``, ``onnx`` (the artefact's int8 ONNX model,
    an error without one) or ``auto`` (ONNX when the artefact has it and ARABIC_NEWS_ONNX is not 0, else torch)."""
    if backend not in ("auto", "torch", "onnx"):
        raise ArtifactError(f"backend {backend!r}: expected auto, torch or onnx")
    path = Path(path)
    manifest = read_manifest(path)
    model_type = manifest.get("model_type")
    if model_type not in MODEL_TYPES:
        raise ArtifactError(f"{path}: unknown model_type {model_type!r}; expected one of {sorted(MODEL_TYPES)}")
    verify_files(path, manifest)
    _warn_on_version_mismatch(path, manifest)
    module_name, class_name = MODEL_TYPES[model_type].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    takes_backend = "backend" in inspect.signature(cls.load_model_files).parameters
    classifier = cls.load_model_files(path, manifest, **({"backend": backend} if takes_backend else {}))
    classifier.manifest = manifest
    return classifier


def _warn_on_version_mismatch(path: Path, manifest: dict) -> None:
    saved = manifest.get("library_versions", {})
    current = library_versions()
    for name in VERSION_CRITICAL.get(manifest.get("model_type", ""), ()):
        if name in saved and saved[name] != current.get(name):
            logger.warning("%s was trained with %s %s, this environment has %s; predictions may differ. "
                           "Install the recorded version or retrain.", path, name, saved[name], current.get(name, "none"))


# ------------------------------------------------------------------------------------------ model card

def model_card(manifest: dict) -> str:
    metrics = manifest.get("metrics", {})
    data = manifest.get("data", {})
    lines = [
        f"# Arabic news topic classifier ({manifest.get('model_type')})",
        "",
        f"Labels: {', '.join(manifest.get('labels', []))} "
        f"({'multi-label: primary label plus every label over its threshold' if manifest.get('multi_label') else 'single-label'}).",
        "",
        "## Use",
        "```python",
        "import training",
        "model = training.load('PATH_TO_THIS_DIRECTORY')",
        "model.predict(['نص المقال'], titles=['العنوان'])",
        "```",
        "",
        "## Data",
        f"- source: {data.get('source', 'unknown')}",
        f"- fingerprint: `{data.get('fingerprint', 'unknown')}`",
    ]
    for split, counts in data.get("counts", {}).items():
        lines.append(f"- {split}: " + ", ".join(f"{label} {n}" for label, n in counts.items()))
    lines += ["", "## Metrics", "| split | accuracy | macro-F1 |", "|---|---:|---:|"]
    for split, values in metrics.items():
        if isinstance(values, dict) and "macro_f1" in values:
            lines.append(f"| {split} | {values.get('accuracy', float('nan')):.4f} | {values['macro_f1']:.4f} |")
    lines += [
        "",
        "## Preprocessing",
        "```json",
        json.dumps(manifest.get("normalizer", {}), ensure_ascii=False, indent=2),
        "```",
        "",
        "## Provenance",
        f"- created: {manifest.get('created_at')}",
        f"- git commit: {manifest.get('git_commit')}",
        f"- seed: {manifest.get('seed')}",
        f"- command: `{manifest.get('command_line')}`",
        "- libraries: " + ", ".join(f"{k} {v}" for k, v in manifest.get("library_versions", {}).items()),
        "",
        "## Limits",
        "Trained on the data above only: expect lower accuracy on other publishers, countries and years, and on "
        "topics outside the label set (they are forced into the closest label; check `low_confidence`).",
        "",
    ]
    return "\n".join(lines)
