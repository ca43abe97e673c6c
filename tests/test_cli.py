"""The command line end to end: ``main(argv)`` on the sample corpus, asserting on what it writes."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.cli import main
from training.config import ConfigError, TrainConfig, load_config_file


def test_train_writes_report_contract_and_artefact(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    config = tmp_path / "config.yaml"
    config.write_text("baseline:\n  classifiers: [logreg]\n  c_values: [2.0]\n", encoding="utf-8")
    code = main(["train", "--out", str(out), "--models", "baseline", "--config", str(config), "--seed", "7",
                 "--baseline.c-values", "4"])
    assert code == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["best"] == "baseline"
    assert 0.75 < report["candidates"]["baseline"]["validation"]["macro_f1"] <= 1
    assert 0.75 < report["test"]["macro_f1"] <= 1
    assert report["seed"] == 7
    assert report["config"]["baseline"]["c_values"] == [4.0]  # the flag overrides the file
    assert report["config"]["baseline"]["classifiers"] == ["logreg"]  # the file overrides the default
    assert report["data"]["fingerprint"].startswith("sha256:")
    assert report["timings"]["total_seconds"] > 0
    assert (out / "report.md").read_text(encoding="utf-8").startswith("# Training report")
    assert (out / "confusion_test.png").stat().st_size > 1000
    assert (out / "artifacts" / "baseline" / "manifest.json").is_file()
    assert "best: baseline" in capsys.readouterr().out

    predictions_in = tmp_path / "in.jsonl"
    predictions_in.write_text(
        json.dumps({"id": "a", "title": "الدوري", "text": "فاز النادي في مباراة الدوري بثلاثة أهداف"}, ensure_ascii=False) + "\n"
        + json.dumps({"id": "b", "text": "وزير الخارجية يستقبل السفير لبحث العلاقات الثنائية"}, ensure_ascii=False) + "\n",
        encoding="utf-8")
    predictions_out = tmp_path / "out.jsonl"
    assert main(["predict", "--model", str(out / "artifacts" / "baseline"), "--input", str(predictions_in),
                 "--output", str(predictions_out)]) == 0
    rows = [json.loads(line) for line in predictions_out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["a", "b"]
    assert [r["label"] for r in rows] == ["sport", "diplomacy"]
    assert all(set(r) == {"id", "label", "labels", "scores", "low_confidence", "arabic_ratio"} for r in rows)

    assert main(["predict", "--model", str(out / "artifacts" / "baseline"), "--text", "هجوم إرهابي بسيارة مفخخة"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert one["label"] == "terrorism" and set(one) == {"label", "labels", "scores", "low_confidence", "arabic_ratio"}
    assert one["arabic_ratio"] == 1.0
    assert main(["predict", "--model", str(out / "artifacts" / "baseline"), "--text", "  "]) == 2
    assert "predict: --text is empty" in capsys.readouterr().err


def test_user_errors_exit_2_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "--data", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "r")]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    assert main(["train", "--models", "forest", "--out", str(tmp_path / "r")]) == 2
    assert "--models: expected one of baseline, transformer, ensemble; found 'forest'" in capsys.readouterr().err
    assert main(["train", "--promote", "always", "--data", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "r")]) == 2
    assert "--promote always does nothing without --register" in capsys.readouterr().err
    assert main(["train", "--models", "transformer", "--transformer.model", "models/encoders/missing",
                 "--out", str(tmp_path / "r")]) == 2
    assert "--transformer.model models/encoders/missing: no such checkpoint directory; build one with" \
        in capsys.readouterr().err
    for name in ("bad name!", "Arabic-News"):
        assert main(["train", "--register", "--model-name", name, "--out", str(tmp_path / "r")]) == 2
        assert f"--model-name {name!r}: a model store name is lowercase letters" in capsys.readouterr().err
    assert main(["predict", "--model", str(tmp_path), "--text", "x"]) == 2
    assert "manifest.json is missing" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n", encoding="utf-8")
    assert main(["train", "--data", str(bad), "--out", str(tmp_path / "r")]) == 2
    assert "line 1 is not valid JSON" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # refused data leaves no empty run directory behind
    empty_pool = tmp_path / "pool.jsonl"
    empty_pool.write_text("\n", encoding="utf-8")
    assert main(["train", "--unlabelled", str(empty_pool), "--out", str(tmp_path / "r")]) == 2
    assert "pool.jsonl" in capsys.readouterr().err and not (tmp_path / "r").exists()  # so do unlabelled articles


def test_unwritable_output_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = main(["train", "--out", str(blocker / "run"), "--baseline.classifiers", "logreg", "--baseline.c-values", "4"])
    assert code == 2
    err = capsys.readouterr().err
    assert str(blocker) in err and "check the path" in err


def test_config_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("baseline:\n  c_valuez: [1]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown setting 'c_valuez'"):
        load_config_file(bad)
    bad.write_text("transformer:\n  epochs: many\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="transformer.epochs: expected float, found 'many'"):
        load_config_file(bad)
    bad.write_text("baseline: {classifiers: [svm] svm_c_values: [1]}\n", encoding="utf-8")  # a comma missing
    with pytest.raises(ConfigError) as caught:
        load_config_file(bad)
    assert str(caught.value).startswith(f"config file {bad} line 1 column ") and "\n" not in str(caught.value)
    assert "not valid YAML (" in str(caught.value)
    bad.write_text("# every setting commented out\n# seed: 13\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="c.yaml: no settings in it; write e.g. `seed: 13`"):
        load_config_file(bad)
    broken = tmp_path / "b.json"
    broken.write_text('{"seed": 3,\n "models": }', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"b.json line 2 column 12: not valid JSON \(Expecting value\)"):
        load_config_file(broken)
    good = tmp_path / "c.json"
    good.write_text(json.dumps({"seed": 3, "models": "baseline,transformer", "data": {"multi_label": "no"}}))
    config = load_config_file(good, TrainConfig())
    assert (config.seed, config.models, config.data.multi_label) == (3, ["baseline", "transformer"], "no")


def test_output_piped_into_a_reader_that_stopped_is_not_an_error(baseline_run: dict) -> None:
    """`models list | head -1`: once the reader has gone, the command stops quietly (exit 141, as for SIGPIPE)."""
    import os
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)  # a reader that has already stopped: every write fails with EPIPE
    try:
        process = subprocess.run([sys.executable, "-m", "training", "predict", "--model", str(baseline_run["best_artifact"]),
                                  "--text", "وزير الخارجية يستقبل السفير"], stdout=write_end, stderr=subprocess.PIPE,
                                 timeout=120)
    finally:
        os.close(write_end)
    assert process.returncode == 141, process.stderr.decode()
    assert b"error" not in process.stderr and b"Traceback" not in process.stderr, process.stderr.decode()


def test_help_all_works_on_every_command(capsys: pytest.CaptureFixture) -> None:
    from training.cli import commands

    for argv in ([[command.name, "--help-all"] for command in commands()]
                 + [["models", action, "--help-all"] for action in ("list", "show", "promote")]):
        assert main(argv) == 0, argv
        assert capsys.readouterr().out.startswith("usage: python -m training " + " ".join(argv[:-1])), argv


@pytest.mark.parametrize("flags, message", [
    (["--transformer.predict-batch-size", "0"], "--transformer.predict-batch-size 0: expected 1 or more"),
    (["--transformer.batch-size", "-2"], "--transformer.batch-size -2: expected 1 or more"),
    (["--data.test-size", "0"], "--data.test-size 0.0: expected a fraction between 0 and 1"),
    (["--data.validation-size", "0.6", "--data.test-size", "0.5"], "leave nothing to train on"),
    (["--baseline.word-ngrams", "1"], "--baseline.word-ngrams 1: expected MIN MAX with 1 <= MIN <= MAX"),
    (["--baseline.char-ngrams", "4", "2"], "--baseline.char-ngrams 4 2: expected MIN MAX"),
    (["--baseline.min-df", "0"], "--baseline.min-df and --baseline.max-features: expected counts of 1 or more"),
    (["--baseline.max-df", "0"], "--baseline.max-df 0.0: expected a fraction in (0, 1]"),
    (["--baseline.c-values", "0"], "--baseline.c-values 0.0: C is the inverse regularisation strength and must be above 0"),
    (["--baseline.svm-c-values", "1", "-1"], "--baseline.svm-c-values 1.0 -1.0: C is the inverse regularisation"),
    (["--models", "baseline,baseline"], "--models baseline,baseline: expected each candidate once"),
    (["--models", "baseline,ensemble"], "--models ensemble needs baseline and transformer"),
])
def test_unusable_settings_are_refused_before_training(tmp_path: Path, capsys: pytest.CaptureFixture, flags: list[str],
                                                       message: str) -> None:
    assert main(["train", "--out", str(tmp_path / "r"), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists()


def test_an_unknown_flag_shows_the_commands_own_usage(capsys: pytest.CaptureFixture) -> None:
    assert main(["predict", "--data.label-column", "topic"]) == 2  # predict reads no labels
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m training predict [options]")
    assert err.strip().endswith("error: unrecognized arguments: --data.label-column topic")


def test_settings_built_in_code_are_checked_like_flags() -> None:
    from training.config import check

    config = TrainConfig()
    config.seed = "7"  # a value of the wrong type is converted, or refused with its flag
    assert check(config).seed == 7
    config.baseline.min_df = [0.5]
    with pytest.raises(ConfigError, match=r"--baseline.min-df: expected int, found 0.5"):
        check(config)
    with pytest.raises(ConfigError, match="each candidate once"):
        check(TrainConfig(models=[]))


def test_section_help_and_verbose_after_the_command(capsys: pytest.CaptureFixture) -> None:
    assert main(["evaluate", "--help-all"]) == 0
    assert "Evaluation data: every row is evaluated." in capsys.readouterr().out  # the section field's own help
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "Self-training of the baseline on the --unlabelled articles" in out and "(23 settings;" in out
    assert main(["models", "list", "-v", "--name", "no-such-model"]) == 2
    assert "model 'no-such-model' is not in the BentoML store" in capsys.readouterr().err
