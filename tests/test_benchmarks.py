"""The benchmarks' own arithmetic (their runs need ../shared and are not part of the suite)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_split_gap_compares_the_gap_on_validation_with_the_gap_on_test() -> None:
    gap_figures = load_benchmark("bench_split_gap").gap_figures
    truth = np.array([0, 1, 0, 1, 0, 1, 0, 1])  # the first 4 are validation
    reference = truth.copy()
    predicted = truth.copy()
    predicted[7] = 0  # one test article wrong: test macro-F1 (0.8 + 2/3) / 2
    figures = gap_figures(predicted, reference, truth, 4, halvings=50, seed=0)
    assert figures["validation_macro_f1"] == 1.0 and figures["test_macro_f1"] == pytest.approx(0.7333, abs=1e-4)
    assert figures["gap_to_reference"] == {"validation": 0.0, "test": pytest.approx(-0.2667, abs=1e-4)}
    # every stratified halving of 8 articles puts the one mistake in a half of the same make-up: always this large
    assert figures["random_halvings"]["share_at_least_as_large"] == 1.0

    truth = np.tile([0, 1], 100)  # 100 validation, 100 test articles
    predicted = truth.copy()
    predicted[np.flatnonzero(truth[100:] == 1)[:10] + 100] = 0  # ten test mistakes, none on validation
    figures = gap_figures(predicted, truth.copy(), truth, 100, halvings=200, seed=0)
    assert figures["gap_difference"] > 0.09
    assert figures["random_halvings"]["share_at_least_as_large"] < 0.02  # random halves split the mistakes
