"""What the service logs, and what it never logs.

* Every client error (4xx) is ONE line at INFO on the ``serving`` logger: method, path, status and, for each
  problem, the field and the rule broken (``texts[1] value_error``). Never the request's text: neither the
  message nor a traceback (pydantic's quotes the offending input) is logged at any level above DEBUG.
* Server errors (5xx) keep BentoML's ERROR line with the traceback.
* A start-up error (``StartupError``: a model tag that cannot be served, an unsupported BentoML) that nothing
  catches is printed as one line, ``error: ...``, and the process exits with status 1, instead of a
  traceback of BentoML's CLI with the useful line last.
* The ``serving`` logger follows the level of BentoML's own logger (INFO by default, ``--debug``,
  ``--quiet``): BentoML configures only its own loggers and the root one, at WARNING.
"""
from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

logger = logging.getLogger("serving")

# Request fields the API knows; a location starting elsewhere is a key the client made up (an unknown field),
# which can be any text, so it is logged as "<unknown>".
KNOWN_FIELDS = frozenset({"body", "request", "texts", "titles", "text", "title", "top_k", "label", "method"})


class StartupError(RuntimeError):
    """The server cannot start; the message says why and what to do, in one line."""


def env_int(name: str, default: int, minimum: int = 1) -> int:
    """The whole number in environment variable ``name`` (``default`` when unset or empty); a StartupError that
    names the variable, the value and the default when it is not a whole number of at least ``minimum``."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise StartupError(f"{name}={raw!r}: expected a whole number of at least {minimum} (e.g. {default}); unset it "
                           f"for the default, {default}")
    return value


def env_bool(name: str, default: bool) -> bool:
    """The yes/no in environment variable ``name`` (``default`` when unset or empty); a StartupError naming the
    variable and the accepted values otherwise."""
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise StartupError(f"{name}={raw!r}: expected 1/0, true/false, yes/no or on/off; unset it for the default, "
                       f"{int(default)}")


def _one_line_excepthook(previous: Callable[..., Any]) -> Callable[..., Any]:
    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if isinstance(exc, StartupError):
            print(f"error: {exc}", file=sys.stderr, flush=True)
            return  # the interpreter still exits with status 1
        previous(kind, exc, tb)

    hook.one_line_startup_errors = True  # type: ignore[attr-defined]
    return hook


def one_line_startup_errors() -> None:
    """Print an uncaught ``StartupError`` as one line (exit status 1); idempotent. Only uncaught ones: code
    that imports the service and catches the error still gets the exception."""
    if not getattr(sys.excepthook, "one_line_startup_errors", False):
        sys.excepthook = _one_line_excepthook(sys.excepthook)


def follow_bentoml_log_level() -> None:
    """Log the ``serving`` logger at BentoML's level (set by ``bentoml serve`` before it imports the service)."""
    logger.setLevel(logging.getLogger("bentoml").getEffectiveLevel())
    logger.disabled = False  # a later logging.config.dictConfig must not silence it


def problems(body: Mapping[str, Any] | None) -> str:
    """``texts[1] value_error, titles missing``: the field and rule of each problem of an ``error_body``."""
    entries = body.get("detail") if isinstance(body, Mapping) else None
    if not isinstance(entries, list):
        return ""
    shown = []
    for entry in entries[:5]:
        loc = entry.get("loc") or ["body"]
        field = entry.get("field", "body") if loc[0] in KNOWN_FIELDS else "<unknown>"
        shown.append(f"{field} {entry.get('type', 'invalid')}")
    more = f", and {len(entries) - 5} more" if len(entries) > 5 else ""
    return ", ".join(shown) + more


def log_client_error(scope: Mapping[str, Any], status: int, body: Mapping[str, Any] | None = None) -> None:
    """The one INFO line for a 4xx answer (``body``: the ``error_body`` sent, when there is one)."""
    if logger.isEnabledFor(logging.INFO):
        detail = problems(body)
        path = scope.get("path", "") if status != 404 else "<unknown path>"  # a client's path can be any text
        logger.info("client error %d %s %s%s", status, scope.get("method", ""), path, f": {detail}" if detail else "")


def quiet_client_errors(original: Callable[..., None],
                        is_client_error: Callable[[BaseException | None], bool]) -> Callable[..., None]:
    """A replacement for BentoML's ``log_exception(request, exc_info=True)``: exceptions that BentoML answers
    with a 4xx are not logged here (``serving.limits`` logs the answer in one line, with the fields at fault);
    anything else goes to ``original``, which logs it at ERROR with its traceback."""
    def log_exception(request: Any, exc_info: Any = True) -> None:
        exc = sys.exc_info()[1]
        if is_client_error(exc):
            logger.debug("%s %s answered 4xx: %s", request.method, request.url.path, type(exc).__name__)
            return
        original(request, exc_info)

    return log_exception
