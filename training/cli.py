"""Command line: ``python -m training {train,predict,build-tokenizer,pretrain,models}``."""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Sequence

from .artifact import ArtifactError, write_text_atomic
from .config import ConfigError, TrainConfig, add_config_arguments, config_from_args, load_config_file
from .data import DataError

logger = logging.getLogger("training")

USER_ERRORS = (DataError, ConfigError, ArtifactError)


def _train_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("train", help="train candidates, select the best on validation, test it, save artefacts",
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--config", help="JSON or YAML file with sections data/normalizer/baseline/transformer; flags override it")
    parser.add_argument("--data", dest="cfg:data.path", default=argparse.SUPPRESS,
                        help="labelled data path or hub id (empty: built-in sample corpus)")
    parser.add_argument("--transformer-model", dest="cfg:transformer.model", default=argparse.SUPPRESS,
                        help="hub id or local checkpoint directory to fine-tune (empty: a compact encoder built here)")
    add_config_arguments(parser)
    parser.set_defaults(handler=_cmd_train)


def _cmd_train(args: argparse.Namespace) -> int:
    from .train import run

    config = load_config_file(args.config) if args.config else TrainConfig()
    config = config_from_args(args, config)
    report = run(config)
    if "rank" in report:  # a torchrun worker other than rank 0: rank 0 reports
        return 0
    best = report["candidates"][report["best"]]
    print(f"best: {report['best']}  validation macro-F1 {best['validation']['macro_f1']:.4f}  "
          f"test macro-F1 {report['test']['macro_f1']:.4f}")
    print(f"report: {Path(config.out) / 'report.md'}  artefact: {report['best_artifact']}")
    if report.get("registered"):
        print(f"registered: {report['registered']['tag']}")
    return 0


def _predict_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("predict", help="classify articles with an artefact directory or a model store tag")
    parser.add_argument("--model", required=True, help="artefact directory, or BentoML store tag (name or name:version)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", help="JSONL with `text`, optional `id` and `title`")
    source.add_argument("--text", help="one article text to classify (prints JSON)")
    parser.add_argument("--title", help="headline for --text")
    parser.add_argument("--output", help="JSONL to write (id, label, labels, scores); default: stdout")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.set_defaults(handler=_cmd_predict)


def load_model(reference: str):
    """An artefact directory, or else a model store tag."""
    from .artifact import load

    if Path(reference).exists():
        return load(reference)
    from .registry import resolve

    return load(resolve(reference))


def _read_articles(path: Path) -> list[dict]:
    articles = []
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror}); check the path") from None
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path} line {number}: not valid JSON ({exc.msg}); fix or remove the line") from None
            if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not row["text"].strip():
                raise DataError(f"{path} line {number}: expected an object with a non-empty string `text`")
            articles.append({"id": row.get("id", number), "text": row["text"], "title": row.get("title") or ""})
    return articles


def _cmd_predict(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    model = load_model(args.model)
    if args.text is not None:
        prediction = model.predict([args.text], [args.title] if args.title else None)[0]
        print(json.dumps(prediction.to_dict(), ensure_ascii=False, indent=2))
        return 0
    articles = _read_articles(Path(args.input))
    lines = []
    for start in tqdm(range(0, len(articles), args.batch_size), desc="predict", unit="batch"):
        batch = articles[start:start + args.batch_size]
        for article, prediction in zip(batch, model.predict([a["text"] for a in batch], [a["title"] for a in batch])):
            lines.append(json.dumps({"id": article["id"], "label": prediction.label, "labels": prediction.labels,
                                     "scores": prediction.scores}, ensure_ascii=False))
    text = "\n".join(lines) + ("\n" if lines else "")
    if args.output:
        write_text_atomic(args.output, text)
        logger.info("wrote %d predictions to %s", len(lines), args.output)
    else:
        sys.stdout.write(text)
    return 0


def _models_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("models", help="list, show and promote models in the BentoML model store")
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="every stored version with its metrics").add_argument("--name", default=None)
    actions.add_parser("show", help="one entry's manifest and metrics").add_argument("tag")
    actions.add_parser("promote", help="make TAG the version served by default (rollback)").add_argument("tag")
    parser.set_defaults(handler=_cmd_models)


def _cmd_models(args: argparse.Namespace) -> int:
    from . import registry

    if args.action == "list":
        print(registry.format_listing(registry.list_models(args.name)))
    elif args.action == "show":
        print(json.dumps(registry.show(args.tag), ensure_ascii=False, indent=2))
    else:
        print(f"promoted: {registry.promote(args.tag)}")
    return 0


def _encoder_parsers(sub: argparse._SubParsersAction) -> None:
    from .pretrain import add_pretrain_arguments, run_pretrain
    from .tokenizer import add_tokenizer_arguments, run_build_tokenizer

    tokenizer = sub.add_parser("build-tokenizer", help="train an Arabic WordPiece tokenizer on a JSONL(.gz) corpus")
    add_tokenizer_arguments(tokenizer)
    tokenizer.set_defaults(handler=run_build_tokenizer)
    pretrain = sub.add_parser("pretrain", help="masked-language-model pre-training of a compact Arabic encoder")
    add_pretrain_arguments(pretrain)
    pretrain.set_defaults(handler=run_pretrain)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description="Arabic news topic classifier")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    _predict_parser(sub)
    _encoder_parsers(sub)
    _models_parser(sub)
    return parser


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S", force=True)
    for noisy in ("datasets", "httpx", "urllib3", "filelock", "fsspec"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # SystemExit unwinds like Ctrl-C, so the atomic writers remove their temporary directories.
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        return args.handler(args)
    except USER_ERRORS as exc:
        if args.verbose:
            logger.exception("failed")
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # unwritable output, disk full: say which path, not a traceback
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}; check the path, its permissions and free disk space", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; nothing half-written was left in place", file=sys.stderr)
        return 130
