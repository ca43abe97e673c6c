"""Every BentoML internal this service uses, in one place, each with the reason it is needed.

BentoML's public API (``bentoml.service``, ``bentoml.api``, ``bentoml.Service``, the service config) does not
cover everything the service does, so a few private names are used. They can change in any release, so this
module checks the installed version first: the service was written and tested against bentoml==1.4.40 (the
project's lock pins it) and stops at import, in one line, with any other version rather than misbehaving
later. To try another version, set ``ARABIC_NEWS_BENTOML_UNCHECKED=1`` and review each use below first.

Nothing else in ``serving`` imports from ``bentoml._internal``, ``_bentoml_sdk`` or ``_bentoml_impl``.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import bentoml

from .logs import StartupError

EXPECTED_BENTOML = "1.4.40"


class IncompatibleBentoMLError(StartupError):
    """The installed BentoML is not the version whose internals this module was checked against."""


def check_bentoml_version(found: str = bentoml.__version__) -> None:
    if found != EXPECTED_BENTOML and os.environ.get("ARABIC_NEWS_BENTOML_UNCHECKED", "") not in ("1", "true", "yes"):
        raise IncompatibleBentoMLError(
            f"serving needs bentoml=={EXPECTED_BENTOML} (the version in requirements.lock), found {found}: its "
            f"private APIs may differ; install the locked version, or review serving/bentoml_internals.py and "
            f"set ARABIC_NEWS_BENTOML_UNCHECKED=1")


check_bentoml_version()

# -- request body: serving.bento_io ------------------------------------------------------------------------
# IORootModel is the class BentoML builds for an API whose whole body is ONE argument ("root input"). A
# batchable API must take exactly one argument (``ServiceAppFactory.batch_infer``), so /classify's body is a
# root input that hands the batcher a list of articles.
from _bentoml_sdk.io_models import IORootModel  # noqa: E402

# -- request timeout: serving.timeout ----------------------------------------------------------------------
# ``traffic.TimeoutMiddleware`` never cancels its per-request timer; BentoML looks the class up in this module
# each time it builds an app, so replacing the attribute is how the cancelling one gets used.
from bentoml._internal.server.http import traffic  # noqa: E402

# -- OpenAPI document: serving.openapi ---------------------------------------------------------------------
# ``Service.openapi_spec`` must return BentoML's own OpenAPISpecification; bentoml_cattr converts the edited
# dict back to it, and INFRA_TAG marks BentoML's infrastructure endpoints (/livez, /metrics, ...).
from bentoml._internal.service.openapi import INFRA_TAG  # noqa: E402
from bentoml._internal.service.openapi.specification import OpenAPISpecification  # noqa: E402
from bentoml._internal.utils.cattr import bentoml_cattr  # noqa: E402

__all__ = [
    "EXPECTED_BENTOML",
    "INFRA_TAG",
    "IORootModel",
    "OpenAPISpecification",
    "bentoml_cattr",
    "exclude_from_tracing",
    "is_bentoml_client_error",
    "replace_api_exception_logging",
    "tracing_exporter",
    "traffic",
]


def replace_api_exception_logging(make_logger: Callable[[Callable[..., None]], Callable[..., None]]) -> None:
    """Route the API handler's exception logging through ``make_logger(bentoml_s_own)``.

    Why: ``ServiceAppFactory.api_endpoint_wrapper`` logs every exception at ERROR with its traceback, client
    errors included (a pydantic ValidationError is answered 400, and its traceback quotes the request's text).
    It calls ``log_exception``, imported by name into ``_bentoml_impl.server.app``; replacing that name is the
    only way to change it. Idempotent."""
    import _bentoml_impl.server.app as server_app

    original = getattr(server_app.log_exception, "__wrapped__", server_app.log_exception)
    replacement = make_logger(original)
    replacement.__wrapped__ = original  # type: ignore[attr-defined]
    server_app.log_exception = replacement


def tracing_exporter() -> str | None:
    """The configured trace exporter (``tracing.exporter_type``: zipkin, jaeger, otlp), None when there is none.

    Why: the OpenTelemetry middleware BentoML adds to every app reads its settings from BentoML's container;
    the config is only complete once the service has injected its own (``Service.inject_config``)."""
    from bentoml._internal.configuration.containers import BentoMLContainer

    return BentoMLContainer.config.tracing.exporter_type.get()


def exclude_from_tracing(paths: Iterable[str]) -> None:
    """Make BentoML's OpenTelemetry middleware pass requests to ``paths`` straight through, without a span.

    Why: the middleware creates a span for every request, and collects its attributes, even when no exporter
    is configured and the span goes nowhere (about 0.3 ms of CPU per request here). ``tracing.excluded_urls``
    in the config would exclude them for good; this is applied only when no exporter is configured. Must run
    before BentoML builds the app (it reads ``tracing_excluded_urls`` once, in ``ServiceAppFactory.middlewares``)."""
    import re

    from bentoml._internal.configuration.containers import BentoMLContainer
    from opentelemetry.util.http import ExcludeList

    # the middleware matches each pattern against "scheme://host:port/path"
    BentoMLContainer.tracing_excluded_urls.set(ExcludeList([f"^[a-z]+://[^/]+{re.escape(path)}$" for path in paths]))


def is_bentoml_client_error(exc: BaseException | None) -> bool:
    """Whether BentoML answers ``exc`` with a 4xx: a pydantic ValidationError (400) or a BentoMLException
    whose ``error_code`` is under 500 (``api_endpoint_wrapper``'s own rules)."""
    from bentoml.exceptions import BentoMLException
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return True
    return isinstance(exc, BentoMLException) and int(exc.error_code) < 500


def index_page_without_tracking() -> bytes | None:
    """BentoML's API page (Swagger UI, served at /) without calls to third parties; None when BentoML serves its
    other page (the ``new_index`` feature), which is left as it is.

    Why: the page BentoML serves loads Google Tag Manager whatever ``BENTOML_DO_NOT_TRACK`` says, and its Swagger UI
    sends the address of /docs.json to validator.swagger.io for a badge, so a newsroom opening its own API's
    documentation would call both. The page is ``_bentoml_impl/server/main-openapi.html``
    (``ServiceAppFactory.index_page``); here its tag manager snippets are removed and its Swagger UI initializer
    (``bentoml/_internal/server/static_content/swagger-initializer.js``) is inlined with ``validatorUrl: null``.
    Its other scripts and styles stay where BentoML serves them."""
    import re

    import _bentoml_impl.server
    import bentoml._internal.server
    from bentoml._internal.configuration.containers import BentoMLContainer

    if BentoMLContainer.new_index:
        return None
    page = (Path(_bentoml_impl.server.__file__).parent / "main-openapi.html").read_text(encoding="utf-8")
    page = re.sub(r"<!-- Google Tag Manager.*?<!-- End Google Tag Manager[^>]*-->", "", page, flags=re.S)
    initializer = (Path(bentoml._internal.server.__file__).parent / "static_content" / "swagger-initializer.js")
    script = initializer.read_text(encoding="utf-8").replace("SwaggerUIBundle({", "SwaggerUIBundle({ validatorUrl: null,", 1)
    page = re.sub(r'<script src="\./static_content/swagger-initializer\.js"[^>]*>\s*</script>',
                  lambda _: f"<script>{script}</script>", page)
    return page.encode()
