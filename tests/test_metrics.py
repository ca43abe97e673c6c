"""training.evaluation.metrics: per-source metrics checked against values worked out by hand; the run reports."""
from __future__ import annotations

import json

import numpy as np
import pytest

from training.data.splits import Split
from training.evaluation.metrics import evaluate_scores
from training.evaluation.report import per_source_table

LABELS = ["x", "y", "z"]


def split_of(truth: list[str], sources: list[str]) -> Split:
    n = len(truth)
    return Split("validation", [f"a{i}" for i in range(n)], [""] * n, [f"text {i}" for i in range(n)],
                 [[label] for label in truth], sources)


def one_hot(predicted: list[str]) -> np.ndarray:
    scores = np.full((len(predicted), len(LABELS)), 0.1)
    for row, label in enumerate(predicted):
        scores[row, LABELS.index(label)] = 0.8
    return scores


def test_per_source_metrics_match_hand_computed_values() -> None:
    truth = ["x", "x", "y", "y", "z", "z", "x", "y"]
    predicted = ["x", "y", "y", "y", "z", "x", "x", "x"]
    sources = ["A", "A", "A", "A", "B", "B", "B", ""]  # the last article has no source
    result = evaluate_scores(one_hot(predicted), split_of(truth, sources), LABELS, multi_label=False)
    by_source = result["per_source"]
    assert set(by_source) == {"A", "B"}  # articles without a source are in the overall figures only
    # A: truth x x y y, predicted x y y y.
    #   x: TP 1, FP 0, FN 1 -> P 1, R 1/2, F1 = 2*1*0.5/1.5 = 2/3
    #   y: TP 2, FP 1, FN 0 -> P 2/3, R 1, F1 = 2*(2/3)/(5/3) = 4/5
    #   z: absent from A's truth and predictions -> not part of A's macro-F1
    #   macro-F1 (2/3 + 4/5) / 2 = 11/15; accuracy 3/4
    a = by_source["A"]
    assert a["articles"] == 4 and a["accuracy"] == pytest.approx(0.75)
    assert a["per_class"] == pytest.approx({"x": 2 / 3, "y": 0.8})
    assert a["macro_f1"] == pytest.approx(11 / 15)
    # B: truth z z x, predicted z x x.
    #   z: TP 1, FP 0, FN 1 -> F1 2/3;  x: TP 1, FP 1, FN 0 -> P 1/2, R 1, F1 2/3;  y absent
    #   macro-F1 2/3; accuracy 2/3
    b = by_source["B"]
    assert b["articles"] == 3 and b["accuracy"] == pytest.approx(2 / 3)
    assert b["per_class"] == pytest.approx({"z": 2 / 3, "x": 2 / 3})
    assert b["macro_f1"] == pytest.approx(2 / 3)
    # overall (8 articles, unknown source included): accuracy 5/8
    assert result["accuracy"] == pytest.approx(5 / 8)
    json.dumps(result)  # report.json must be able to hold it


def test_macro_f1_leaves_out_labels_neither_true_nor_predicted() -> None:
    # truth x x y, predicted x y y: x F1 2/3, y F1 2/3; z is in no article and never predicted
    result = evaluate_scores(one_hot(["x", "y", "y"]), split_of(["x", "x", "y"], ["", "", ""]), LABELS, False)
    assert result["macro_f1"] == pytest.approx(2 / 3)  # not (2/3 + 2/3 + 0) / 3
    assert result["per_class"]["z"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    # a label predicted but never true is a real error, so it counts: truth x x y, predicted x y z
    result = evaluate_scores(one_hot(["x", "y", "z"]), split_of(["x", "x", "y"], ["", "", ""]), LABELS, False)
    assert result["macro_f1"] == pytest.approx((2 / 3 + 0 + 0) / 3)  # y: TP 0, FP 1, FN 1 -> 0; z: FP 1 -> 0


def test_no_per_source_metrics_with_fewer_than_two_sources() -> None:
    truth = ["x", "y", "z"]
    for sources in (["A", "A", "A"], ["", "", ""], ["A", "", ""]):
        assert "per_source" not in evaluate_scores(one_hot(truth), split_of(truth, sources), LABELS, False)


def test_multi_label_evaluation_keeps_per_source() -> None:
    split = split_of(["x", "y", "z", "x"], ["A", "A", "B", "B"])
    split.labels[0] = ["x", "z"]
    result = evaluate_scores(one_hot(["x", "y", "z", "y"]), split, LABELS, True, [0.5, 0.5, 0.5])
    assert "multi_label" in result
    assert result["per_source"]["A"]["accuracy"] == 1.0 and result["per_source"]["B"]["accuracy"] == 0.5


def test_per_source_table_marks_absent_topics() -> None:
    truth, predicted = ["x", "x", "y", "z"], ["x", "y", "y", "z"]
    metrics = evaluate_scores(one_hot(predicted), split_of(truth, ["A", "A", "A", "B"]), LABELS, False)
    table = per_source_table([("baseline validation", metrics)], LABELS)
    assert table[0].startswith("| evaluated | source | articles")
    # A: truth x x y, predicted x y y -> x: P 1, R 1/2, F1 2/3; y: P 1/2, R 1, F1 2/3; z absent ("–")
    assert "| baseline validation | A | 3 | 0.6667 | 0.6667 | 0.667 | 0.667 | – |" in table
    assert "| baseline validation | B | 1 | 1.0000 | 1.0000 | – | – | 1.000 |" in table


def test_run_reports_give_metrics_per_source(baseline_run: dict) -> None:
    """The sample corpus has two publishers (wire, daily): report.json and report.md show both, validation and test."""
    report = json.loads((baseline_run["out"] / "report.json").read_text(encoding="utf-8"))
    for metrics in (report["candidates"]["baseline"]["validation"], report["test"]):
        assert set(metrics["per_source"]) == {"wire", "daily"}
        assert sum(m["articles"] for m in metrics["per_source"].values()) == metrics["articles"]
    markdown = (baseline_run["out"] / "report.md").read_text(encoding="utf-8")
    assert "## Per source" in markdown
    assert "| baseline validation | daily |" in markdown and "| baseline test | wire |" in markdown
