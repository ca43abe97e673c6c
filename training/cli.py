"""Command line: ``python -m training {train,predict,suggest,evaluate,build-tokenizer,pretrain,models} [--help]``.

Every command reads its settings the same way (``training/config.py``): a dataclass of defaults, optionally a
``--config`` JSON/YAML file, then flags. ``--help`` shows the common flags and examples, ``--help-all`` all of them.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from .artifact import ArtifactError
from .config import TrainConfig
from .data.loading import DataError
from .predict import PredictConfig, run_predict
from .settings import ConfigError, add_config_arguments, config_from_args, load_config_file
from .suggest import SuggestConfig, run_suggest

logger = logging.getLogger("training")

USER_ERRORS = (DataError, ConfigError, ArtifactError)


@dataclass(frozen=True)
class Command:
    """A subcommand: its settings dataclass, what runs it, and examples for ``--help``."""

    name: str
    help: str
    config: type | None
    run: Callable[[Any], int]
    examples: str = ""
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None  # commands without settings dataclass


def _run_train(config: TrainConfig) -> int:
    from .train import run

    report = run(config)
    if "rank" in report:  # a torchrun worker other than rank 0: rank 0 reports
        return 0
    from .evaluation.metrics import chosen_on

    best = report["candidates"][report["best"]]
    measure, score = chosen_on(best.get("selection"), best["validation"])
    print(f"best: {report['best']}  {measure} {score:.4f}  test macro-F1 {report['test']['macro_f1']:.4f}")
    print(f"report: {Path(config.out) / 'report.md'}  artefact: {report['best_artifact']}")
    if report.get("registered"):
        print(f"registered: {report['registered']['tag']}")
        print(report["registered"]["message"])  # what is served now, and why
    return 0


def _add_help_all(parser: argparse.ArgumentParser) -> None:
    """``--help-all`` on a command without settings: the same as ``--help``, so it works on every command."""
    parser.add_argument("--help-all", action="help", help="the same as --help (this command has no other settings)")


def _verbose_flag() -> argparse.ArgumentParser:
    """``-v`` for each command's parser too, so it works after the command name (``train -v``) as well as before."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging")
    return parent


def _models_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    for name, help_text, argument, argument_help in (
            ("list", "every stored version with its metrics", "--name", "only the versions of this model name"),
            ("show", "one entry's manifest and metrics", "tag", "NAME:VERSION, or NAME for its served version"),
            ("promote", "make TAG the served version (also a rollback)", "tag", "NAME:VERSION")):
        aliases = ["rollback"] if name == "promote" else []  # the word users reach for to go back to a version
        action = actions.add_parser(name, aliases=aliases, help=help_text, description=help_text,
                                    parents=[_verbose_flag()])
        action.add_argument(argument, help=argument_help)
        _add_help_all(action)


def _run_models(args: argparse.Namespace) -> int:
    from . import registry

    if args.action == "list":
        print(registry.format_listing(registry.list_models(args.name)))
    elif args.action == "show":
        print(json.dumps(registry.show(args.tag), ensure_ascii=False, indent=2))
    else:  # promote, rollback
        tag, changed = registry.promote(args.tag)
        if not changed:
            print(f"{tag} is already the served version of {tag.split(':')[0]}; nothing changed")
        else:
            print(f"promoted: {tag} is the served version of {tag.split(':')[0]}; a running server keeps serving the "
                  "previous model until it is restarted")
    return 0


def _encoder_commands() -> list[Command]:
    from .encoders import pretrain, tokenizer

    return [
        Command("build-tokenizer", "train an Arabic WordPiece tokenizer on unlabelled articles", tokenizer.TokenizerConfig,
                tokenizer.run, examples="""\
  python -m training build-tokenizer --corpus ../shared/corpora/arabic-news-unlabelled.jsonl.gz --max-docs 30000 \\
      --out models/encoders/news-wordpiece
  python -m training build-tokenizer --corpus articles.parquet --vocab-size 16000 --out models/encoders/wp16k"""),
        Command("pretrain", "pre-train a compact Arabic encoder on unlabelled text (mlm or electra)",
                pretrain.PretrainConfig, pretrain.run, examples="""\
  python -m training pretrain --corpus ../shared/corpora/arabic-news-unlabelled.jsonl.gz \\
      --tokenizer models/encoders/news-wordpiece --out models/encoders/compact-electra --objective electra \\
      --time-budget-s 1800
  python -m training pretrain --corpus CORPUS --tokenizer TOK --out OUT --resume --time-budget-s 600
  python -m training pretrain --corpus CORPUS --init aubmindlab/bert-base-arabertv02 --out OUT --max-steps 2000"""),
    ]


def commands() -> list[Command]:
    from .evaluation.evaluate import EvaluateConfig, run_evaluate

    return [
        Command("train", "train candidates, select the best on validation, test it, save artefacts", TrainConfig,
                _run_train, examples="""\
  python -m training train --data news.csv --data.label-column topic --out models/runs/mine
  python -m training train --data DIR --models baseline,transformer --transformer.model PATH_OR_HUB_ID
  python -m training train --config my.yaml --seed 7 --register"""),
        Command("predict", "classify articles with an artefact directory or a model store tag", PredictConfig,
                run_predict, examples="""\
  python -m training predict --model models/runs/mine/artifacts/baseline --text "نص المقال"
  python -m training predict --model arabic-news-topics --input articles.jsonl --output predictions.jsonl
  python -m training predict --model arabic-news-topics --input news.csv --data.text-column body --output out.csv"""),
        Command("suggest", "pick the unlabelled articles worth labelling next (CSV + Label Studio files)",
                SuggestConfig, run_suggest, examples="""\
  python -m training suggest --model arabic-news-topics --pool unlabelled.jsonl --n 200 --out to_label.csv
  python -m training train --data export.json   # Label Studio's JSON export of the labelled tasks"""),
        Command("evaluate", "compare models on the same articles: every row of --data, metrics, calibration, "
                "confusion matrices", EvaluateConfig, run_evaluate, examples="""\
  python -m training evaluate arabic-news-topics models/runs/mine/artifacts/baseline --data news.jsonl --out eval
  python -m training evaluate arabic-news-topics:OLD arabic-news-topics:NEW --data DIR --data.label-column topic"""),
        *_encoder_commands(),
        Command("models", "list, show and promote models in the BentoML model store", None, _run_models,
                add_arguments=_models_arguments),
    ]


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32, width=110)


def build_parser(show_all: bool = False) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description="Arabic news topic classifier")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in commands():
        epilog = (f"examples:\n{command.examples}\n\n" if command.examples else "") + \
                 ("" if show_all or command.config is None else "--help-all lists every setting.")
        child = sub.add_parser(command.name, help=command.help, description=command.help, epilog=epilog,
                               usage=f"python -m training {command.name} [options]" if command.config else None,
                               formatter_class=_HelpFormatter, parents=[_verbose_flag()])
        if command.config is not None:
            child.add_argument("--config", help="JSON or YAML file of settings (sections as mappings); flags override it")
            child.add_argument("--help-all", action="help", help="show every setting and exit")
            add_config_arguments(child, command.config, show_all)
        else:
            _add_help_all(child)
            command.add_arguments(child)
        child.set_defaults(command_spec=command, command_parser=child)
    return parser


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S", force=True)
    for noisy in ("datasets", "httpx", "urllib3", "filelock", "fsspec"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # SystemExit unwinds like Ctrl-C, so the atomic writers remove their temporary directories.
    raise SystemExit(128 + signum)


def _settings(command: Command, args: argparse.Namespace) -> Any:
    config = command.config()
    if args.config:
        config = load_config_file(args.config, config)
    return config_from_args(args, config)


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args, unknown = build_parser(show_all="--help-all" in argv).parse_known_args(argv)
        if unknown:  # with the command's own usage, which lists its flags, not the top-level one
            args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    except SystemExit as exc:
        return int(exc.code or 0)
    configure_logging(args.verbose)
    command: Command = args.command_spec
    try:
        from tqdm.contrib.logging import logging_redirect_tqdm

        with logging_redirect_tqdm():  # a log line during a progress bar gets a line of its own
            return command.run(_settings(command, args) if command.config is not None else args)
    except USER_ERRORS as exc:
        if args.verbose:
            logger.exception("failed")
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into a reader that stopped early (`| head`): nothing went wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit flush does not fail again
        return 128 + signal.SIGPIPE
    except OSError as exc:  # unwritable output, disk full: say which path, not a traceback
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}; check the path, its permissions and free disk space", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; nothing half-written was left in place", file=sys.stderr)
        return 130
