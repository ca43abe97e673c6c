"""Label Studio round trip: the import tasks and labelling config that ``suggest`` writes, and reading an export.

Import (written by ``python -m training suggest``): a JSON list of tasks, each ``{"data": {id, title, text,
source}, "predictions": [{"model_version", "score", "result": [choices]}]}``, so annotators start from the
model's label, plus a labelling config (``<Choices name="label" toName="text">`` over the model's labels).

Export (read by ``python -m training train --data export.json``): Label Studio's *JSON* export, a list of tasks
with ``annotations[].result[]``. Each task's annotation is its ground-truth one if marked, else its latest
non-cancelled one; its first ``choices`` result gives the labels, the first choice being the primary topic.
Tasks without such an annotation (unlabelled, skipped or cancelled) are left out, counted and logged.
"""
from __future__ import annotations

import logging
from typing import Any, Sequence
from xml.sax.saxutils import quoteattr

from .files import DataError, FileRows, RawRow

logger = logging.getLogger(__name__)

CHOICES_NAME = "label"  # the <Choices name=...> of our labelling config
TEXT_NAME = "text"      # the <Text name=...> it labels


# ----------------------------------------------------------------------------------------------- import

def choice_result(labels: Sequence[str]) -> list[dict]:
    """A ``choices`` result as Label Studio stores it, for predictions and (in tests) annotations."""
    return [{"from_name": CHOICES_NAME, "to_name": TEXT_NAME, "type": "choices", "value": {"choices": list(labels)}}]


def import_tasks(rows: Sequence[dict], model_version: str) -> list[dict]:
    """Tasks to import: ``rows`` carry id, title, text, source, and the model's ``label`` and ``score``."""
    return [{"data": {"id": row["id"], "title": row.get("title") or "", "text": row["text"],
                      "source": row.get("source") or ""},
             "predictions": [{"model_version": model_version, "score": round(float(row["score"]), 6),
                              "result": choice_result([row["label"]])}]}
            for row in rows]


def labelling_config(labels: Sequence[str], multi_label: bool) -> str:
    """Label Studio's XML labelling config: headline, body and one choice per label (several when multi-label:
    the first one ticked is taken as the primary topic)."""
    choices = "\n".join(f"    <Choice value={quoteattr(label)}/>" for label in labels)
    return (f'<View>\n  <Header value="$title"/>\n  <Text name="{TEXT_NAME}" value="$text"/>\n'
            f'  <Choices name="{CHOICES_NAME}" toName="{TEXT_NAME}" choice="{"multiple" if multi_label else "single"}" '
            f'required="true" showInLine="true">\n{choices}\n  </Choices>\n</View>\n')


# ----------------------------------------------------------------------------------------------- export

def is_export(value: Any) -> bool:
    """A Label Studio JSON export: a non-empty list of objects that each have ``data`` and ``annotations``."""
    return (isinstance(value, list) and bool(value)
            and all(isinstance(task, dict) and "data" in task and "annotations" in task for task in value))


def _chosen_annotation(task: dict) -> dict | None:
    annotations = [a for a in task.get("annotations") or [] if isinstance(a, dict) and not a.get("was_cancelled")]
    if not annotations:
        return None
    truth = [a for a in annotations if a.get("ground_truth")]
    # the latest edit wins: Label Studio lists annotations in creation order
    return (truth or annotations)[-1]


def _choices(annotation: dict) -> list[str]:
    results = [r for r in annotation.get("result") or [] if isinstance(r, dict) and r.get("type") == "choices"]
    results.sort(key=lambda r: r.get("from_name") != CHOICES_NAME)  # ours first when the config has several
    for result in results:
        choices = (result.get("value") or {}).get("choices") or []
        choices = [str(c).strip() for c in choices if str(c).strip()]
        if choices:
            return list(dict.fromkeys(choices))
    return []


def annotated_tasks(tasks: list[dict], origin: str) -> list[tuple[int, dict]]:
    """(task number in the export, counted from 1, row) of each annotated task; a row is the task's ``data`` fields
    plus ``label`` (the first choice of its latest submitted annotation) and ``labels``."""
    rows, skipped = [], []
    for number, task in enumerate(tasks, 1):
        data = task.get("data")
        task_id = task.get("id", number)
        if not isinstance(data, dict):
            raise DataError(f"{origin} task {number} (id {task_id}): `data` must be an object with the article's "
                              f"text, found {type(data).__name__}; export the project again as JSON")
        annotation = _chosen_annotation(task)
        labels = _choices(annotation) if annotation else []
        if not labels:
            skipped.append(str(data.get("id", task_id)))
            continue
        row = dict(data)
        row.setdefault("id", f"ls:{task_id}")
        row["label"], row["labels"] = labels[0], labels
        rows.append((number, row))
    if skipped:
        logger.warning("%s: %d of %d tasks have no submitted choice (unlabelled, skipped or cancelled) and are left "
                       "out (e.g. %s)", origin, len(skipped), len(tasks), ", ".join(skipped[:5]))
    if not rows:
        raise DataError(f"{origin}: a Label Studio export with no annotated task ({len(tasks)} tasks, none with a "
                          f"submitted choice); label some tasks and export again")
    logger.info("%s: Label Studio export, %d annotated tasks read, %d without a label left out", origin, len(rows),
                len(skipped))
    return rows


def export_table(table: FileRows) -> FileRows | None:
    """``table`` (``files.FileRows`` of a .json file) as labelled rows when it is a Label Studio export, else None."""
    tasks = [row.values for row in table.rows]
    if not is_export(tasks):
        return None
    rows = annotated_tasks(tasks, str(table.path))
    columns = list(dict.fromkeys(key for _, row in rows for key in row))
    # errors name the task's place in the export, which unlabelled tasks left out would otherwise shift
    return FileRows(table.path, [RawRow(row, None, place=f"task {number}") for number, row in rows], table.encoding,
                    None, columns)
