"""Execute notebooks/evaluate.ipynb and notebooks/explore_data.ipynb headless on small trained models.

Parameters are injected by the project's runner (``python -m training.evaluation.notebook``) in a cell after the
one tagged ``parameters`` (papermill's convention), pointing the notebooks at the ``baseline_run`` fixture's models and the built-in sample corpus. The kernel is this test's
own interpreter (the venv's python), through a kernelspec in a private JUPYTER_PATH.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
KERNEL = "arabic-news-topics-test"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def kernel_name(tmp_path_factory: pytest.TempPathFactory):
    spec = tmp_path_factory.mktemp("jupyter") / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "arabic-news-topics tests", "language": "python"}))
    previous = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join([str(spec.parents[1])] + ([previous] if previous else []))
    yield KERNEL
    if previous is None:
        os.environ.pop("JUPYTER_PATH", None)
    else:
        os.environ["JUPYTER_PATH"] = previous


@pytest.fixture(scope="module")
def second_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A different small model on the sample corpus, so the notebooks have two models to compare."""
    from training.evaluation.analysis import train_quick_baseline

    return train_quick_baseline("sample", tmp_path_factory.mktemp("quick"))


def execute(name: str, kernel: str, **parameters) -> tuple[dict, str]:
    """Run a notebook through the project's runner (training.evaluation.notebook); return it and all its outputs
    as one text."""
    from training.evaluation.notebook import execute_notebook

    probe = nbformat.read(NOTEBOOKS / name, as_version=4)
    probe.cells.append(nbformat.v4.new_code_cell("import sys\nprint('KERNEL-PYTHON', sys.executable)"))
    copy = NOTEBOOKS.parent / ".pytest-notebooks" / name  # beside notebooks/, so relative paths still resolve
    copy.parent.mkdir(exist_ok=True)
    nbformat.write(probe, copy)
    try:
        notebook = execute_notebook(copy, parameters, kernel_name=kernel, timeout=300)
    finally:
        copy.unlink(missing_ok=True)
    assert [c for c in notebook.cells if "injected-parameters" in c.metadata.get("tags", [])]
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(o.get("text", "") + "".join(str(v) for k, v in o.get("data", {}).items() if k.startswith("text/"))
                     for o in outputs)
    assert f"KERNEL-PYTHON {sys.executable}" in text, "the notebook did not run on this interpreter"
    return notebook, text


def images(notebook) -> int:
    return sum("image/png" in output.get("data", {}) for cell in notebook.cells if cell.cell_type == "code"
               for output in cell.outputs)


@pytest.mark.parametrize("name", ["evaluate.ipynb", "explore_data.ipynb"])
def test_notebooks_are_committed_without_outputs(name: str) -> None:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    assert sum("parameters" in cell.metadata.get("tags", []) for cell in code) == 1


def test_evaluate_notebook_compares_two_models(kernel_name: str, baseline_run: dict, second_model: Path) -> None:
    notebook, text = execute("evaluate.ipynb", kernel_name, models=[str(baseline_run["out"]), str(second_model)],
                             data="sample", worst_k=5)
    run_model = f"{baseline_run['out'].name}/baseline"
    for expected in ("macro_f1", "accuracy", "ece", "brier", run_model, "f1_sport", 'dir="rtl"', "most confident mistakes",
                     f"{run_model} vs baseline", "articles disagree"):
        assert expected in text, expected
    assert "Only one model" not in text
    # label counts, lengths, confusion matrices, PR curves, reliability, accuracy by length and by source
    assert images(notebook) == 7


def test_explore_notebook(kernel_name: str, baseline_run: dict) -> None:
    notebook, text = execute("explore_data.ipynb", kernel_name, model=str(baseline_run["out"]), data="sample", top_k=5)
    for expected in ("share", "secondary", "primary", "duplicates", "leakage", "terrorism"):
        assert expected in text, expected
    assert "quick baseline" not in text  # the given model was used
    # label counts, lengths, co-occurrence, top n-grams
    assert images(notebook) == 4


def test_runner_command_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The documented command: parameters read as YAML, unknown names refused before any kernel starts."""
    from training.evaluation.notebook import main, parse_value

    assert (parse_value("5"), parse_value("[a, b]"), parse_value("null"), parse_value("news.jsonl")) == \
        (5, ["a", "b"], None, "news.jsonl")
    out = tmp_path / "executed.ipynb"
    assert main([str(NOTEBOOKS / "evaluate.ipynb"), "-p", "modles", "[x]", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter 'modles'" in err and "models, data, split" in err
    assert main([str(NOTEBOOKS / "evaluate.ipynb"), "-p", "worst_k", "five", "--out", str(out)]) == 2
    assert "parameter worst_k = 'five': expected a number, like its default 15" in capsys.readouterr().err
    assert main([str(NOTEBOOKS / "evaluate.ipynb"), "--out", str(NOTEBOOKS / "evaluate.ipynb")]) == 2
    assert "is the notebook itself: its executed copy would replace it" in capsys.readouterr().err
    assert not out.exists()


def test_runner_reads_relative_paths_from_where_it_is_run(kernel_name: str, tmp_path: Path, monkeypatch,
                                                          capsys: pytest.CaptureFixture) -> None:
    """The kernel runs in the notebook's folder; a relative path given with -p still means the user's path, and a
    failing cell's last line comes back without the kernel's colour codes."""
    from training.evaluation.notebook import absolute_paths, main

    (tmp_path / "runs" / "mine").mkdir(parents=True)
    (tmp_path / "news.jsonl").write_text("{}\n", encoding="utf-8")
    folder = tmp_path / "notebooks"
    folder.mkdir()
    parameters = nbformat.v4.new_code_cell('models = []\ndata = "auto"')
    parameters.metadata["tags"] = ["parameters"]
    check = nbformat.v4.new_code_cell("import os\nassert os.getcwd().endswith('notebooks')\n"
                                      "missing = [p for p in models + [data] if not os.path.exists(p)]\n"
                                      "if missing: raise FileNotFoundError(f'not found: {missing}')")
    notebook = nbformat.v4.new_notebook(cells=[parameters, check], metadata={"kernelspec": {"name": kernel_name, "display_name": "tests"}})
    nbformat.write(notebook, folder / "paths.ipynb")
    monkeypatch.chdir(tmp_path)

    (tmp_path / "auto").mkdir()  # a folder named like a keyword does not turn the keyword into a path
    assert absolute_paths(["auto", "news.jsonl", "runs/mine", "runs/typo"], tmp_path) == \
        ["auto", str(tmp_path / "news.jsonl"), str(tmp_path / "runs" / "mine"), "runs/typo"]
    arguments = ["notebooks/paths.ipynb", "--kernel", kernel_name, "--out", "executed.ipynb", "-p", "data", "news.jsonl"]
    assert main([*arguments, "-p", "models", "[runs/mine]"]) == 0
    assert main([*arguments, "-p", "models", "[runs/typo]"]) == 1
    err = capsys.readouterr().err
    assert "FileNotFoundError: not found: ['runs/typo']" in err and "\x1b[" not in err
