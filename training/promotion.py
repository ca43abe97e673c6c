"""Champion vs challenger: a new version is served only when it is at least as good as the served one.

``train --register`` scores the served version (the champion) on the new run's test split next to the new
version (the challenger), when that is fair: the champion must not have seen any of those articles (every artefact
records the ids and content hashes of its training articles) and must predict the same labels. ``--promote``
says what happens then: if-better (default), always or never; one line says what is served now and why.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .artifact import ArtifactError, load
from .data.identity import recorded_hashes, split_hashes
from .evaluation.evaluate import score_model
from .registry import RegistryError, default_tag, promote, register, resolve, served_tag


def compare_with_champion(tag: str, data, new_test: dict, bins: int = 10) -> dict:
    """Score the served model ``tag`` on this run's test split next to the new one, when that is fair: it must
    not have been trained on any test article and must predict the same label set."""

    test = data.test
    champion = {"tag": tag, "compared": False, "articles": len(test), "new_test_macro_f1": new_test["macro_f1"]}
    try:
        artifact_dir = resolve(tag)
        model = load(artifact_dir)
    except (ArtifactError, RegistryError) as exc:  # damaged since it was promoted: no server can start with it either
        return champion | {"broken": True, "reason": f"the served version {tag} cannot be loaded ({exc})"}
    if set(model.labels) != set(data.label_names):  # first: no article set can compare them, overlap or not
        return champion | {"labels_differ": True, "labels": list(model.labels),
                           "reason": f"{tag} predicts the labels {sorted(model.labels)}, the new version "
                                     f"{sorted(data.label_names)}"}
    seen = recorded_hashes(artifact_dir)
    if seen is None:
        return champion | {"reason": f"{tag} does not record its training articles (trained before they were "
                                     "recorded), so whether it saw this run's test articles cannot be checked"}
    overlap = [row_id for row_id, digest in zip(test.ids, split_hashes(test)) if digest in seen]
    if overlap:
        return champion | {"overlap": len(overlap), "overlap_ids": overlap[:20],
                           "reason": f"{tag} was trained on {len(overlap)} of this run's {len(test)} test articles "
                                     f"(e.g. {', '.join(overlap[:3])}), so its score there would flatter it"}
    metrics = score_model(model, test, bins)
    metrics.pop("misclassified")
    return champion | {"compared": True, "test": metrics,
                       "reason": f"both scored on this run's {len(test)} test articles"}


PROMOTE_HINT = "`python -m training models promote {tag}`"


def decide(new_tag: str, champion: dict | None, policy: str, first_version: bool) -> tuple[bool, str]:
    """Whether ``new_tag`` should be served (policy if-better, always or never) and the one line that says why."""
    if first_version:
        return False, f"served now: {new_tag} (the first version of its name)"
    old, hint = champion["tag"], PROMOTE_HINT.format(tag=new_tag)
    if champion.get("compared"):
        new_f1, old_f1 = champion["new_test_macro_f1"], champion["test"]["macro_f1"]
        scores = f"test macro-F1 {new_f1:.4f} vs {old_f1:.4f} for the previous one on the same {champion['articles']} articles"
        if policy == "always" or policy == "if-better" and round(new_f1, 4) >= round(old_f1, 4):
            return True, f"served now: {new_tag} (new version: {scores}{'; --promote always' if policy == 'always' else ''})"
        why = "--promote never" if policy == "never" else "the new version scored lower"
        return False, (f"kept {old} ({why}): the new version {new_tag} scored {new_f1:.4f} vs {old_f1:.4f} on the same "
                       f"{champion['articles']} articles; promote it anyway with {hint}")
    if policy == "always":
        return True, f"served now: {new_tag} (--promote always; not compared with {old}: {champion['reason']})"
    if champion.get("broken"):  # nothing to compare with, and nothing a server could serve: the new one is better
        if policy == "if-better":
            return True, f"served now: {new_tag} ({champion['reason']})"
        return False, f"kept {old} (--promote never), although {champion['reason']}; promote a version with {hint}"
    if champion.get("labels_differ"):  # no article set scores both models on the same topics
        return False, (f"kept {old}: not compared with the new version {new_tag}: {champion['reason']}; serving a new "
                       f"label set is your decision: check the new version's report, then promote it with {hint}")
    return False, (f"kept {old}: not compared with the new version {new_tag}: {champion['reason']}; compare them on "
                   f"other articles with `python -m training evaluate {new_tag} {old} --data PATH`, promote with {hint}")


def register_challenger(artifact_path: str | Path, name: str, report: dict, data: Any, policy: str) -> dict:
    """Register a run's winner and serve it only when ``policy`` says so after comparing it with the served
    version on this run's test split (``report["champion"]``); returns the registration with its one-line verdict."""
    served = served_tag(name)
    if served:
        report["champion"] = compare_with_champion(served, data, report["test"])
    registered = register(artifact_path, name, report)
    promote_it, message = decide(registered["tag"], report.get("champion"), policy, registered["first_version"])
    if promote_it:
        promote(registered["tag"])
    if report.get("champion"):
        report["champion"]["decision"] = message
    return registered | {"served": default_tag(name), "promoted": promote_it or registered["first_version"],
                         "message": message}
