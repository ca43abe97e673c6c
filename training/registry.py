"""The BentoML model store: register a run's winner, list and show entries, promote a version for serving.

A store entry holds the whole artefact directory under ``artifact/``, so serving needs nothing else.
The version served is the promoted one. Registering never changes it: the first version of a name is promoted
on registration, later ones only by ``promote`` (``train --register`` does so when the new version scores at
least as well as the served one on the same articles). Promotions live in ``$BENTOML_HOME/promotions.json`` so a
rollback needs no retraining; a store written before promotions existed serves its newest version.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .artifact import ArtifactError, read_manifest, verify_files, write_json_atomic

logger = logging.getLogger(__name__)

DEFAULT_NAME = "arabic-news-topics"
ARTIFACT_DIR = "artifact"
TAG_ENV = "ARABIC_NEWS_MODEL_TAG"


class RegistryError(ArtifactError):
    """A store tag that does not exist or an entry that cannot be used."""


def _bentoml():
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    import bentoml

    return bentoml


@contextmanager
def _store_metadata() -> Iterator[None]:
    """A store entry whose model.yaml is damaged: one line naming the file, not a YAML traceback."""
    import yaml

    try:
        yield
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{mark.name} line {mark.line + 1}" if mark else f"a model.yaml under {bentoml_home()}"
        raise RegistryError(f"{where}: the store entry's metadata is corrupt ({getattr(exc, 'problem', None) or exc}); "
                            "restore it, or delete that version's directory") from None


def bentoml_home() -> Path:
    return Path(os.environ.get("BENTOML_HOME", Path.home() / "bentoml"))


def _promotions_file() -> Path:
    return bentoml_home() / "promotions.json"


def _promotions() -> dict[str, str]:
    try:
        return json.loads(_promotions_file().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (json.JSONDecodeError, OSError) as exc:
        raise RegistryError(f"{_promotions_file()}: unreadable ({exc}); delete it to serve the newest versions") from None


def _get(tag: str, shown: str | None = None) -> Any:
    """The store entry of ``tag``; a missing one is reported as ``shown`` (what the user typed), else as ``tag``."""
    bentoml = _bentoml()
    try:
        parsed = bentoml.Tag.from_taglike(tag)
    except (ValueError, bentoml.exceptions.BentoMLException) as exc:  # BentoML raises either for a malformed tag
        raise RegistryError(f"{tag!r} is not a model tag ({exc}); expected NAME or NAME:VERSION") from None
    try:
        with _store_metadata():
            return bentoml.models.get(parsed)
    except bentoml.exceptions.NotFound:
        raise _not_stored(shown or tag) from None


def _not_stored(tag: str) -> RegistryError:
    with _store_metadata():
        stored = _bentoml().models.list()
    name = tag.split(":")[0]
    versions = [str(m.tag) for m in sorted(stored, key=lambda m: m.info.creation_time, reverse=True)
                if m.tag.name == name]
    if versions:  # the name is right, the version is not
        shown = ", ".join(versions[:5]) + (f" and {len(versions) - 5} older" if len(versions) > 5 else "")
        return RegistryError(f"model {tag!r} is not in the BentoML store at {bentoml_home()}; versions of {name}: "
                             f"{shown} (see `models list --name {name}`)")
    known = sorted({str(m.tag.name) for m in stored})
    return RegistryError(f"model {tag!r} is not in the BentoML store at {bentoml_home()}; stored models: "
                         f"{', '.join(known) or 'none'} (train with --register, see `models list`)")


def register(artifact_path: str | Path, name: str, report: dict | None = None) -> dict:
    """Copy an artefact into a new store version; returns its tag and path."""
    artifact_path = Path(artifact_path)
    manifest = read_manifest(artifact_path)
    verify_files(artifact_path, manifest)
    metrics = manifest.get("metrics", {})
    data = manifest.get("data", {})
    metadata = {
        "validation_macro_f1": metrics.get("validation", {}).get("macro_f1"),
        "test_macro_f1": metrics.get("test", {}).get("macro_f1"),
        "test_accuracy": metrics.get("test", {}).get("accuracy"),
        "labels": manifest.get("labels"),
        "multi_label": manifest.get("multi_label"),
        "data_fingerprint": data.get("fingerprint"),
        "data_source": data.get("source"),
        "git_commit": manifest.get("git_commit") or "",
        "run_dir": str(artifact_path.parent.parent.resolve()),
    }
    if report:
        metadata["candidates"] = {name_: {"validation_macro_f1": c["validation"]["macro_f1"],
                                          **({"selection_macro_f1": c["selection"]["macro_f1"]} if "selection" in c else {}),
                                          "train_seconds": c["train_seconds"],
                                          "predict_articles_per_second": c["predict_articles_per_second"]}
                                  for name_, c in report["candidates"].items()}
    labels = {"model_type": str(manifest.get("model_type")), "dataset": Path(str(data.get("source", "unknown"))).name[:60] or "unknown",
              "candidate": str(manifest.get("candidate", manifest.get("model_type")))}
    bentoml = _bentoml()
    served = served_tag(name)
    if served and name not in _promotions():  # pin what a store without promotions serves before adding a newer one
        _serve(name, served)
    # create() only adds the entry to the store once the block finishes, so an interruption leaves nothing behind
    with bentoml.models.create(name, labels=labels, metadata={k: v for k, v in metadata.items() if v is not None}) as model:
        shutil.copytree(artifact_path, model.path_of(ARTIFACT_DIR))
    stored = bentoml.models.get(model.tag)  # create() wrote into a temporary directory, since moved into the store
    if served is None:
        _serve(name, str(model.tag))  # the first version of a name is served: there is nothing else to serve
    return {"tag": str(model.tag), "path": str(Path(stored.path) / ARTIFACT_DIR), "first_version": served is None}


def list_models(name: str | None = None) -> list[dict]:
    bentoml = _bentoml()
    promoted = _promotions()
    entries = []
    try:
        with _store_metadata():
            stored = bentoml.models.list(name) if name else bentoml.models.list()
    except bentoml.exceptions.NotFound:
        raise _not_stored(name) from None
    except (ValueError, bentoml.exceptions.BentoMLException) as exc:  # a malformed name
        raise RegistryError(f"--name {name!r} is not a model name ({exc}); see `models list` for the stored ones") from None
    for model in stored:
        meta = model.info.metadata
        served = default_tag(model.tag.name) == str(model.tag)
        entries.append({
            "tag": str(model.tag),
            "created": model.info.creation_time.isoformat(timespec="seconds"),
            "model_type": model.info.labels.get("model_type", ""),
            "validation_macro_f1": meta.get("validation_macro_f1"),
            "test_macro_f1": meta.get("test_macro_f1"),
            "default": served,
            "promoted": promoted.get(model.tag.name) == str(model.tag),
            "problem": _load_problem(Path(model.path) / ARTIFACT_DIR) if served else None,
        })
    return sorted(entries, key=lambda e: e["created"], reverse=True)


def _load_problem(path: Path) -> str | None:
    """Why the artefact at ``path`` could not be loaded (missing or changed files), None when it can: the check a
    server makes at start, so ``models list`` makes it for each served version only."""
    try:
        verify_files(path, read_manifest(path))
    except ArtifactError as exc:
        return str(exc)
    return None


def format_listing(entries: list[dict]) -> str:
    if not entries:
        return f"no models in the BentoML store at {bentoml_home()} (train with --register)"
    rows = [f"{'tag':<44} {'type':<12} {'val F1':>7} {'test F1':>7}  created"]
    for e in entries:
        mark = " *served*" if e["default"] else ""
        fmt = lambda v: f"{v:.4f}" if isinstance(v, (int, float)) else "-"  # noqa: E731
        rows.append(f"{e['tag']:<44} {e['model_type']:<12} {fmt(e['validation_macro_f1']):>7} "
                    f"{fmt(e['test_macro_f1']):>7}  {e['created']}{mark}")
    rows += [f"\nWARNING: the served {e['tag']} cannot be loaded: {e['problem']}; a server cannot start with it: "
             f"promote a good version with `python -m training models promote NAME:VERSION`"
             for e in entries if e.get("problem")]
    rows += ["", "served: the version a server started now loads. Each row's test F1 comes from its own run's test "
             "split, so rows are not comparable; compare versions on the same articles with "
             "`python -m training evaluate TAG TAG --data PATH`."]
    return "\n".join(rows)


def show(tag: str) -> dict:
    """One store entry: ``NAME:VERSION``, or ``NAME`` for its served version (as everywhere else)."""
    model = _get(tag if ":" in tag else default_tag(tag))
    return {"tag": str(model.tag), "labels": dict(model.info.labels), "metadata": dict(model.info.metadata),
            "created": model.info.creation_time.isoformat(timespec="seconds"),
            "manifest": read_manifest(Path(model.path) / ARTIFACT_DIR)}


def promote(tag: str) -> tuple[str, bool]:
    """Make ``tag`` (NAME:VERSION) the version served by default for its name; returns its full tag and whether
    that changed what is served."""
    if ":" not in tag or tag.endswith(":latest"):  # to BentoML both mean the newest version, maybe not the one meant
        raise RegistryError(f"models promote {tag}: give the version to serve, NAME:VERSION (see `models list`)")
    model = _get(tag)
    # a server could not start with it, and every later comparison with the served version would fail
    if problem := _load_problem(Path(model.path) / ARTIFACT_DIR):
        raise RegistryError(f"models promote {tag}: {problem}. Until then, promote another version (see `models list`)")
    changed = default_tag(model.tag.name) != str(model.tag)
    _serve(model.tag.name, str(model.tag))
    return str(model.tag), changed


def _serve(name: str, tag: str) -> None:
    """Record ``tag`` as the served version of ``name``."""
    promotions = _promotions()
    promotions[name] = tag
    write_json_atomic(_promotions_file(), promotions)


def served_tag(name: str = DEFAULT_NAME) -> str | None:
    """The version of ``name`` served now, None when the store has no version of it."""
    bentoml = _bentoml()
    try:
        with _store_metadata():
            return default_tag(name) if bentoml.models.list(name) else None
    except bentoml.exceptions.NotFound:
        return None


def served_labels(name: str = DEFAULT_NAME) -> list[str] | None:
    """The label set of the version of ``name`` served now, None when nothing is or it cannot be read (a damaged
    entry, which the run's registration then replaces: see ``promotion.compare_with_champion``)."""
    tag = served_tag(name)
    if not tag:
        return None
    try:
        return list(read_manifest(resolve(tag))["labels"])
    except (ArtifactError, RegistryError, KeyError) as exc:
        logger.warning("the served version %s cannot be read (%s): its label set is not checked", tag, exc)
        return None


def default_tag(name: str = DEFAULT_NAME) -> str:
    """The promoted version of ``name`` if it still exists, else (a store without promotions) its newest version."""
    promoted = _promotions().get(name)
    if promoted:
        try:
            return str(_get(promoted).tag)
        except RegistryError:
            pass
    return str(_get(f"{name}:latest", shown=name).tag)


def is_path(reference: str) -> bool:
    """Whether ``reference`` can only be a path: a store tag never holds a slash."""
    return "/" in reference or os.sep in reference


def locate(reference: str) -> tuple[str, Path]:
    """(display name, artefact directory) of ``reference``: an existing artefact directory (named as given), else a
    store tag or name, resolved to its NAME:VERSION (a name means its served version)."""
    path = Path(reference).expanduser()
    if path.exists():
        return reference, path
    if is_path(reference):  # a mistyped path
        raise RegistryError(f"{reference}: no such artefact directory; check the path (an artefact is a run's "
                            "artifacts/NAME directory), or give a store tag NAME or NAME:VERSION (see `models list`)")
    tag = reference if ":" in reference else default_tag(reference)
    return tag, resolve(tag)


def resolve(reference: str | None = None) -> Path:
    """Artefact directory of a store entry: a full tag, a name (its default version) or None (env var, then default)."""
    reference = reference or os.environ.get(TAG_ENV) or DEFAULT_NAME
    tag = reference if ":" in reference else default_tag(reference)
    model = _get(tag)
    path = Path(model.path) / ARTIFACT_DIR
    if not path.is_dir():
        raise RegistryError(f"store entry {tag} has no {ARTIFACT_DIR}/ directory; it was not written by this package")
    return path
