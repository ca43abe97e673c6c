"""Human-readable run report: the candidate comparison, why the winner won, confusion matrices as PNG."""
from __future__ import annotations

from pathlib import Path

from ..artifact import write_text_atomic
from .metrics import chosen_on


def plot_confusion_matrix(confusion: dict, title: str, path: Path) -> Path:
    """One confusion matrix as a PNG, drawn like the evaluation's and the notebooks' (Arabic labels shaped)."""
    import pandas as pd

    from . import plots

    frame = pd.DataFrame(confusion["matrix"], index=confusion["labels"], columns=confusion["labels"])
    return plots.save(plots.plot_confusion_matrices({title: frame}), path)


def confusion_table(confusion: dict) -> list[str]:
    labels = confusion["labels"]
    lines = ["| true \\ predicted | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    for label, row in zip(labels, confusion["matrix"]):
        lines.append(f"| **{label}** | " + " | ".join(str(v) for v in row) + " |")
    return lines


def per_source_table(rows: list[tuple[str, dict]], labels: list[str]) -> list[str]:
    """One line per (what, source): articles, accuracy, macro-F1 and F1 per label ("–": topic absent there)."""
    lines = ["| evaluated | source | articles | accuracy | macro-F1 | " + " | ".join(f"F1 {label}" for label in labels) + " |",
             "|---|---|---:|---:|---:|" + "---:|" * len(labels)]
    for what, metrics in rows:
        for source, m in metrics.get("per_source", {}).items():
            f1 = m["per_class"]
            lines.append(f"| {what} | {source} | {m['articles']} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} | "
                         + " | ".join(f"{f1[label]:.3f}" if label in f1 else "–" for label in labels) + " |")
    return lines


def why_the_winner_won(report: dict) -> str:
    ranking = report["ranking"]
    candidates = report["candidates"]
    if len(ranking) == 1:
        return f"`{ranking[0]}` was the only candidate."
    if report.get("selection_test"):
        return report["selection_test"]["why"] + "."
    best, runner_up = candidates[ranking[0]], candidates[ranking[1]]
    measure, best_score = chosen_on(best.get("selection"), best["validation"])
    runner_up_score = chosen_on(runner_up.get("selection"), runner_up["validation"])[1]
    if round(best_score - runner_up_score, 4) == 0:
        return (f"`{ranking[0]}` and `{ranking[1]}` tie on {measure} ({best_score:.4f}); "
                f"`{ranking[0]}` wins as the faster predictor ({best['predict_articles_per_second']:.0f} vs "
                f"{runner_up['predict_articles_per_second']:.0f} articles/s).")
    return (f"`{ranking[0]}` has the highest {measure}: {best_score:.4f}, "
            f"{(best_score - runner_up_score) * 100:.1f} points over `{ranking[1]}` ({runner_up_score:.4f}).")


def self_training_lines(log: dict | None) -> list[str]:
    """What self-training added per label in each trial, and which model was kept."""
    if not log:
        return []
    labels = list(log["trials"][0]["added"]) if log["trials"] else []
    lines = ["## Self-training (baseline)", "",
             f"{log['unlabelled_articles']} unlabelled articles; gold-only validation macro-F1 "
             f"{log['gold_validation_macro_f1']:.4f}; kept: **{log['kept']}**.", "",
             "| weight | round | " + " | ".join(f"+{label}" for label in labels) + " | validation macro-F1 | seconds |",
             "|---:|---:|" + "---:|" * len(labels) + "---:|---:|"]
    lines += [f"| {t['weight']:g} | {t['round']} | " + " | ".join(str(t["added"][label]) for label in labels)
              + f" | {t['validation_macro_f1']:.4f} | {t['seconds']:.0f} |" for t in log["trials"]]
    blend = log.get("blend")
    if blend:
        lines += ["", "Kept on validation among the gold-only model, the self-trained one and their blends: "
                  + ", ".join(f"gold weight {t['weight']:g} {t['macro_f1']:.4f}" for t in blend["weight_trials"]) + "."]
    return lines + [""]


def champion_lines(champion: dict) -> list[str]:
    lines = ["", "## Served model (champion) vs this run", ""]
    if champion.get("compared"):
        t = champion["test"]
        lines += [f"On the same {champion['articles']} test articles: new version macro-F1 "
                  f"{champion['new_test_macro_f1']:.4f}; served `{champion['tag']}` macro-F1 {t['macro_f1']:.4f}, "
                  f"accuracy {t['accuracy']:.4f}, ECE {t['calibration']['ece']:.4f}."]
    else:
        lines += [f"Not compared with `{champion['tag']}`: {champion['reason']}."]
    if champion.get("decision"):
        lines += ["", champion["decision"]]
    return lines


def write_reports(report: dict, run_dir: Path) -> None:
    """Write report.md and one confusion-matrix PNG per candidate (validation) and for the winner's test."""
    run_dir.mkdir(parents=True, exist_ok=True)
    labels = report["labels"]
    lines = [
        "# Training report",
        "",
        f"Data: {report['data']['source']} (`{report['data']['fingerprint']}`), labels: {', '.join(labels)}"
        f" ({'multi-label' if report['multi_label'] else 'single-label'}), seed {report['seed']}.",
        "",
        "| split | " + " | ".join(labels) + " |",
        "|---" * (len(labels) + 1) + "|",
    ]
    for split, counts in report["data"]["counts"].items():
        lines.append(f"| {split} | " + " | ".join(str(counts[label]) for label in labels) + " |")
    held_out = any("selection" in c for c in report["candidates"].values())
    lines += ["", "## Candidates (validation)", "",
              "| candidate | " + ("held-out selection macro-F1 | " if held_out else "") + "macro-F1 | accuracy | "
              + " | ".join(f"F1 {label}" for label in labels) + " | train s | articles/s | size MB |",
              "|---" * (len(labels) + 6 + held_out) + "|"]
    for name in report["ranking"]:
        c = report["candidates"][name]
        v = c["validation"]
        lines.append(f"| {name} | " + (f"{c['selection']['macro_f1']:.4f} | " if held_out else "")
                     + f"{v['macro_f1']:.4f} | {v['accuracy']:.4f} | "
                     + " | ".join(f"{v['per_class'][label]['f1']:.3f}" for label in labels)
                     + f" | {c['train_seconds']:.1f} | {c['predict_articles_per_second']:.0f} | {c['size_bytes'] / 1e6:.1f} |")
    if held_out:
        lines += ["", f"Selection: {report['selection']}. The other columns are on the validation articles each "
                  "candidate tuned on (optimistic, the more so the more it tuned)."]
    lines += ["", f"**Winner: `{report['best']}`.** {why_the_winner_won(report)}", ""]
    refit = report["candidates"][report["best"]].get("refit")
    if refit:
        retrained = report["candidates"][report["best"]]["validation"]["articles"]
        lines += [f"It was then retrained with all {retrained} validation articles to tune on, as a run of it alone "
                  f"would be (compared tuned on {refit['compared_tuned_on']}: validation macro-F1 "
                  f"{refit['compared_validation_macro_f1']:.4f}); its row shows the retrained model, except the "
                  "held-out column, and the test below is the retrained model's.", ""]
    if "ensemble" in report["candidates"]:
        log = report["candidates"]["ensemble"]["training"]
        lines += ["Ensemble: weighted mean of " + " and ".join(f"`{name}` x {w:.2f}" for name, w in log["weights"].items())
                  + f". {log['weight_search']}. Note: {log['note']}.", ""]
    baseline_log = report["candidates"].get("baseline", {}).get("training", {})
    if clusters := baseline_log.get("word_clusters"):
        learnt_from = "training and unlabelled" if clusters.get("unlabelled") else "training"
        lines += [f"Baseline word clusters: {clusters['words']} words in {clusters['clusters']} clusters, learnt from "
                  f"{clusters['articles']} {learnt_from} articles in {clusters['seconds']:.1f} s.", ""]
    lines += self_training_lines(baseline_log.get("self_training"))
    test = report["test"]
    lines += [f"## Test ({report['best']}, evaluated once)", "",
              f"accuracy {test['accuracy']:.4f}, macro-F1 {test['macro_f1']:.4f}"
              + (f", multi-label micro-F1 {test['multi_label']['micro_f1']:.4f}, macro-F1 {test['multi_label']['macro_f1']:.4f}"
                 if "multi_label" in test else ""), "",
              "| label | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
    for label, m in test["per_class"].items():
        lines.append(f"| {label} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |")
    lines += [""] + confusion_table(test["confusion_matrix"])
    evaluated = [(f"{name} validation", report["candidates"][name]["validation"]) for name in report["ranking"]]
    evaluated.append((f"{report['best']} test", test))
    if any("per_source" in metrics for _, metrics in evaluated):
        lines += ["", "## Per source", "",
                  "Macro-F1 of a source is over the topics it has (in truth or prediction); a gap between sources "
                  "is what a new publisher may see.", ""] + per_source_table(evaluated, labels)
    images = [("test", plot_confusion_matrix(test["confusion_matrix"], f"{report['best']}: test",
                                             run_dir / "confusion_test.png"))]
    for name, c in report["candidates"].items():
        images.append((f"{name} validation", plot_confusion_matrix(c["validation"]["confusion_matrix"],
                                                                   f"{name}: validation", run_dir / f"confusion_{name}_validation.png")))
    lines += [""] + [f"![{caption}]({path.name})" for caption, path in images]
    if report["data"]["report"].get("leakage"):
        lines += ["", "## Data warnings", ""]
        lines += [f"- leakage {pair}: {info['count']} texts in both splits (e.g. {', '.join(info['ids'][:3])})"
                  for pair, info in report["data"]["report"]["leakage"].items()]
    if report.get("registered"):
        lines += ["", f"Registered in the BentoML model store as `{report['registered']['tag']}`."]
    if report.get("champion"):
        lines += champion_lines(report["champion"])
    write_text_atomic(run_dir / "report.md", "\n".join(lines) + "\n")
