"""BentoML service for the Arabic news topic classifier.

    bentoml serve serving.service:ArabicNewsTopics          # http://localhost:3000, OpenAPI at /docs.json

One service, one process, the artefact loaded once with ``training.load``:

* POST /classify is itself the batchable endpoint (``batchable=True``): BentoML's adaptive batcher merges the
  articles of concurrent requests into one model call of up to ``MAX_BATCH_ARTICLES`` articles and hands each
  request its own predictions (see ``serving.bento_io`` for how the body becomes one batchable list). The
  ``bentoml_service_adaptive_batch_size`` (requests per model call) and ``arabic_news_batch_articles``
  (articles per model call) histograms on /metrics show it.
* POST /explain, GET (and POST) /metadata, BentoML's /livez, /readyz (200 once the model is loaded and
  warmed up), /metrics, and the OpenAPI document at /docs.json.
* ``serving.limits.RequestLimitsMiddleware`` checks body size, UTF-8 and media type before any parsing and
  gives every 4xx one body shape naming the field and the rule (``serving.schemas.ErrorResponse``), unknown
  paths (404) and methods (405) included.
* ``serving.timeout`` replaces BentoML's request-timeout middleware with one that frees each request once
  it is answered (BentoML's keeps it for the whole timeout).
* ``serving.logs``: client errors are one INFO line without the request's text, server errors keep their
  traceback, the start-up line names the tag, model type and labels, and a start-up error is one line.
* Without a trace exporter configured, the service's endpoints are excluded from BentoML's OpenTelemetry
  middleware, which would otherwise build a span per request for nobody (``TopicsService.to_asgi``).
* Every BentoML internal used is in ``serving.bentoml_internals``, which checks the BentoML version.
* /docs.json is BentoML's OpenAPI document completed by ``serving.openapi.complete_openapi``: each API's
  real error responses, and GET /metadata.

The model is the store entry named by ``ARABIC_NEWS_MODEL_TAG`` (a full tag, or a name meaning its promoted,
else newest, version); else, run from a built Bento, the model it packs; else
``training.registry.default_tag("arabic-news-topics")``. It is referenced
at class level with ``bentoml.models.BentoModel`` so ``bentoml build`` packs it into the Bento. A tag that
is not in the store, or whose files are incomplete or corrupt, stops the server at import, with a message
naming the tag and the problem, in one line (exit status 1).
"""
from __future__ import annotations

import importlib.util
import inspect
import logging
import os
import time
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")

from .logs import (  # noqa: E402
    StartupError,
    env_bool,
    env_int,
    follow_bentoml_log_level,
    one_line_startup_errors,
    quiet_client_errors,
)

one_line_startup_errors()  # first: the imports below can fail to start (serving.bentoml_internals' version check)
follow_bentoml_log_level()

import bentoml  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

import training  # noqa: E402
from training import registry  # noqa: E402
from training.artifact import ArtifactError, read_manifest, verify_files  # noqa: E402
from training.data.script import arabic_ratio  # noqa: E402

from .bento_io import ClassifyInput, ClassifyOutput  # noqa: E402
from .bentoml_internals import (  # noqa: E402
    exclude_from_tracing,
    index_page_without_tracking,
    is_bentoml_client_error,
    replace_api_exception_logging,
    tracing_exporter,
)
from .limits import (  # noqa: E402
    MAX_BODY_BYTES,
    MAX_TEXT_CHARS,
    MAX_TEXTS,
    MAX_TITLE_CHARS,
    MAX_TOP_K,
    RequestLimitsMiddleware,
    error_body,
)
from .openapi import complete_openapi, documented_endpoints  # noqa: E402
from .schemas import ArticlePrediction, ClassifyRequest, ExplainRequest, ExplainResponse, MetadataResponse, ModelArticle  # noqa: E402
from .timeout import install as install_cancelling_timeout  # noqa: E402

if TYPE_CHECKING:
    from .bentoml_internals import OpenAPISpecification

logger = logging.getLogger("serving")
install_cancelling_timeout()  # before BentoML builds its app: see serving.timeout
replace_api_exception_logging(lambda bentoml_s_own: quiet_client_errors(bentoml_s_own, is_bentoml_client_error))

MAX_BATCH_ARTICLES = env_int("ARABIC_NEWS_MAX_BATCH", 64)   # articles per model call
# The batcher answers 503 when it predicts a queued request would wait longer than this; high, so that a
# busy CPU queues requests instead of refusing them (the request timeout below still bounds the wait).
MAX_LATENCY_MS = env_int("ARABIC_NEWS_MAX_LATENCY_MS", 60_000)
REQUEST_TIMEOUT_S = env_int("ARABIC_NEWS_TIMEOUT_S", 120)
# Each worker process loads its own copy of the model and batches its own connections; one worker suits a
# small machine (batches grow with the concurrent requests it sees).
WORKERS = env_int("ARABIC_NEWS_WORKERS", 1)
ACCESS_LOG = env_bool("ARABIC_NEWS_ACCESS_LOG", True)


class ModelUnavailableError(StartupError):
    """The configured store entry is missing, or its files are incomplete or corrupt; raised at import, in
    the process that ``bentoml serve`` starts first, so the server exits with the message instead of
    restarting a worker that cannot load the model."""


def packed_tag(bento_file: Path = Path(__file__).resolve().parents[2] / "bento.yaml") -> str | None:
    """The model a built Bento packs, when this code runs from one (``<bento>/src/serving/service.py``): a Bento
    serves what it was built with, not what the local store promotes since."""
    if not bento_file.is_file():
        return None
    import yaml

    info = yaml.safe_load(bento_file.read_text(encoding="utf-8")) or {}
    models = [m for service in info.get("services") or [] for m in service.get("models") or []] + (info.get("models") or [])
    return next((str(m["tag"]) for m in models if isinstance(m, dict) and m.get("tag")), None)


def building_bento() -> bool:
    """Whether ``bentoml build`` imports this module to pack it: its errors then speak of packing, not serving."""
    import sys

    return sys.argv[1:2] == ["build"] and Path(sys.argv[0]).name in ("bentoml", "__main__.py")


def configured_tag() -> str:
    """The full store tag to serve, from ``ARABIC_NEWS_MODEL_TAG``, else the model a built Bento packs, else the
    default name; after checking that the entry's artefact is complete and unchanged (every file against the
    manifest's checksums)."""
    packed = packed_tag()
    reference = tag = os.environ.get(registry.TAG_ENV) or packed or registry.DEFAULT_NAME
    cannot, verb = ("cannot build a Bento of", "pack") if building_bento() else ("cannot serve", "serve")
    if registry.is_path(reference):
        raise ModelUnavailableError(f"{cannot} {registry.TAG_ENV}={reference}: it takes a model store tag (NAME or "
                                    "NAME:VERSION, see `python -m training models list`), not a path; put a run's "
                                    "model in the store with `python -m training train ... --register`")
    try:
        tag = reference if ":" in reference else registry.default_tag(reference)
        path = registry.resolve(tag)  # present, and written by this package (has artifact/)
        verify_files(path, read_manifest(path))
    except (registry.RegistryError, ArtifactError) as exc:
        shown = reference if tag == reference else f"{reference} ({tag})"
        origin = f"{registry.TAG_ENV}={shown}" if os.environ.get(registry.TAG_ENV) else \
            f"{shown} (the model this Bento packs)" if packed else \
            f"{shown} (the default; set {registry.TAG_ENV} to {verb} another model)"
        raise ModelUnavailableError(f"{cannot} {origin}: {exc}") from None
    return tag


MODEL_TAG = configured_tag()


@lru_cache(maxsize=1)
def model_metadata() -> dict:
    """What /metadata answers; read from the store entry's manifest (no model load)."""
    manifest = read_manifest(registry.resolve(MODEL_TAG))
    data = manifest.get("data", {})
    return MetadataResponse(
        model=MODEL_TAG, model_type=str(manifest.get("model_type")), labels=list(manifest.get("labels", [])),
        multi_label=bool(manifest.get("multi_label")), low_confidence_threshold=float(manifest.get("low_confidence", 0.5)),
        metrics=manifest.get("metrics", {}), data_fingerprint=data.get("fingerprint"),
        data={k: v for k, v in data.items() if k != "fingerprint"}, created_at=manifest.get("created_at"),
        library_versions=manifest.get("library_versions", {}),
        limits={"max_texts": MAX_TEXTS, "max_text_chars": MAX_TEXT_CHARS, "max_title_chars": MAX_TITLE_CHARS,
                "max_body_bytes": MAX_BODY_BYTES, "max_top_k": MAX_TOP_K},
    ).model_dump()


def torch_threads(workers: int = WORKERS) -> int:
    """Intra-op threads per worker: the worker's share of the cores, less one for its HTTP event loop.
    Oversubscription is costly: on a busy 2-core machine, 2 torch threads made a one-article prediction of
    the compact transformer ~20x slower than 1 thread (threads waiting for each other). Override with
    ``ARABIC_NEWS_TORCH_THREADS``."""
    from training.models.hf_common import available_cores

    return env_int("ARABIC_NEWS_TORCH_THREADS", 0, minimum=0) or max(1, available_cores() // max(1, workers) - 1)


def _limit_threads(model_type: str) -> None:
    """Size the worker's BLAS/OpenMP/torch thread pools (see ``torch_threads``) before the model loads."""
    threads = torch_threads()
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(name, str(threads))
    if model_type in ("transformer", "ensemble"):
        import torch

        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # already set or parallel work already ran in this process
            pass
        logger.info("torch threads: %d", threads)


@contextmanager
def _fast_sklearn() -> Iterator[None]:
    """Skip scikit-learn's per-call argument validation and finiteness checks during prediction: the inputs
    are lists of strings already validated by the request models, and the checks cost about a fifth of a
    single-article prediction. sklearn's config is per thread, so this wraps each model call."""
    try:
        import sklearn
    except ImportError:  # transformer-only environment
        yield
        return
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        yield


_BATCH_HISTOGRAM: Any = None
_MODEL_CPU: Any = None


def _batch_histogram() -> Any:
    """Articles per model call, on /metrics. Created after BentoML has set the multiprocess directory."""
    global _BATCH_HISTOGRAM
    if _BATCH_HISTOGRAM is None:
        import prometheus_client

        _BATCH_HISTOGRAM = prometheus_client.Histogram(
            "arabic_news_batch_articles", "Articles per model call (adaptive batching merges concurrent requests)",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
    return _BATCH_HISTOGRAM


def _model_cpu_counter() -> Any:
    """CPU seconds spent in the model's own predict calls, on /metrics: with the process's CPU time it tells
    what the server costs outside the model (benchmarks/bench_service.py). Thread CPU time of the calling
    thread: exact for the TF-IDF baseline and for torch with one thread (the default on small machines)."""
    global _MODEL_CPU
    if _MODEL_CPU is None:
        import prometheus_client

        _MODEL_CPU = prometheus_client.Counter("arabic_news_model_cpu_seconds",
                                               "CPU seconds of the model's predict calls (/classify)")
    return _MODEL_CPU


async def _get_metadata(_: Request) -> JSONResponse:
    return JSONResponse(model_metadata())


# GET /metadata; BentoML's own API routes are POST only (the POST route below documents it in /docs.json)
metadata_app = Starlette(routes=[Route("/metadata", _get_metadata, methods=["GET"])])
ClassifyOutput.model_tag = MODEL_TAG


class TopicsService(bentoml.Service[Any]):
    """BentoML's service object with its OpenAPI document completed (``complete_openapi``). ``openapi_spec`` is
    what /docs.json serves and ``bentoml build`` writes; ``bentoml.service(service_class=...)`` is BentoML's
    way to supply the service object's class."""

    __slots__ = ()  # BentoML's Service is a slotted attrs class

    @property
    def doc(self) -> str:
        """/docs.json's description: a built Bento's README, else the service's docstring (not BentoML's generic
        README)."""
        return self.bento.doc if self.bento is not None else inspect.cleandoc(self.inner.__doc__ or "")

    @property
    def openapi_spec(self) -> OpenAPISpecification:
        return complete_openapi(super().openapi_spec, self, get_routes=[route.path for route in metadata_app.routes],
                                version=training.__version__)

    def to_asgi(self, is_main: bool = True) -> Any:
        """BentoML's app, with the service's endpoints left out of tracing when no exporter is configured
        (``tracing.exporter_type`` in the BentoML config): BentoML's OpenTelemetry middleware otherwise builds
        a span per request that goes nowhere. Decided here, in each worker, once the config is complete."""
        self.inject_config()  # what super().to_asgi() does first; the tracing config is read from it
        if tracing_exporter() is None:
            exclude_from_tracing(ENDPOINTS)
            logger.info("no trace exporter configured: %s are not traced", ", ".join(ENDPOINTS))
        return super().to_asgi(is_main)


@bentoml.service(name="arabic_news_topics", workers=WORKERS, threads=2, service_class=TopicsService,
                 traffic={"timeout": REQUEST_TIMEOUT_S}, logging={"access": {"enabled": ACCESS_LOG}})
class ArabicNewsTopics:
    """Arabic news topic classifier: POST /classify, POST /explain, GET /metadata."""

    stored = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        path = Path(self.stored.path) / registry.ARTIFACT_DIR
        _limit_threads(read_manifest(path).get("model_type", ""))
        self.classifier = training.load(path)
        self.classifier.predict(["تجربة"])  # warm caches before /readyz says yes
        self.meta = model_metadata()
        self.batches = _batch_histogram()
        self.model_cpu = _model_cpu_counter()
        logger.info("serving model %s: model type %s, labels %s", MODEL_TAG, self.classifier.model_type,
                    ", ".join(self.classifier.labels))

    @bentoml.api(route="/classify", input_spec=ClassifyInput, output_spec=ClassifyOutput, batchable=True,
                 max_batch_size=MAX_BATCH_ARTICLES, max_latency_ms=MAX_LATENCY_MS)
    def classify(self, articles: list[ModelArticle]) -> list[ArticlePrediction]:
        """Classify 1 to 64 articles (`texts`, optional `titles`, one per text). Concurrent requests are batched
        together for the model; each gets its own predictions, in request order."""
        logger.debug("model batch: %d articles", len(articles))
        self.batches.observe(len(articles))
        texts = [a.text for a in articles]
        titles = [a.title for a in articles]
        started = time.thread_time()
        with _fast_sklearn():
            predictions = self.classifier.predict(texts, titles if any(titles) else None)
        self.model_cpu.inc(time.thread_time() - started)
        return [ArticlePrediction(**p.to_dict(), arabic_ratio=arabic_ratio(title, text))
                for p, text, title in zip(predictions, texts, titles)]

    @bentoml.api(route="/explain", input_spec=ExplainRequest)
    def explain(self, text: str, title: str | None = None, top_k: int = 10, label: str | None = None,
                method: str = "auto") -> ExplainResponse:
        """The label and its evidence: n-gram weights mapped to the input's own spelling (TF-IDF baseline), or
        the fall of the label's score when each sentence or the title is removed (any model)."""
        from training.evaluation.explain import explain

        labels = self.classifier.labels
        if label is not None and label not in labels:
            return JSONResponse(error_body([{"loc": ["label"], "type": "unknown_label",
                                             "msg": f"unknown label {label!r}; the model's labels are {', '.join(labels)}"}]),
                                status_code=400)
        if method == "linear" and self.meta["model_type"] != "baseline":
            return JSONResponse(error_body([{"loc": ["method"], "type": "method_unavailable",
                                             "msg": f"linear explanations need the TF-IDF baseline; this is a "
                                                    f"{self.meta['model_type']} model, use occlusion or auto"}]),
                                status_code=400)
        try:
            with _fast_sklearn():
                result = explain(self.classifier, text, title, label=label, top_k=top_k, method=method)
        except ValueError as exc:  # method="linear" on a model without linear TF-IDF coefficients
            if method != "linear":
                raise
            return JSONResponse(error_body([{"loc": ["method"], "type": "method_unavailable", "msg": str(exc)}]),
                                status_code=400)
        return ExplainResponse(model=MODEL_TAG, arabic_ratio=arabic_ratio(title, text), **result.to_dict())

    @bentoml.api(route="/metadata")
    def metadata(self) -> MetadataResponse:
        """Model tag, type, labels, metrics, data fingerprint, creation time and request limits (also GET)."""
        return MetadataResponse(**self.meta)


ArabicNewsTopics.mount_asgi_app(metadata_app, path="/")
# Built here, at import, so that a BentoML whose document complete_openapi cannot complete stops the server.
ENDPOINTS = documented_endpoints(ArabicNewsTopics.openapi_spec)
REQUEST_FIELDS = {"/classify": list(ClassifyRequest.model_fields), "/explain": list(ExplainRequest.model_fields)}
ArabicNewsTopics.add_asgi_middleware(RequestLimitsMiddleware, endpoints=ENDPOINTS, fields=REQUEST_FIELDS)


class UntrackedIndexPage:
    """Answers GET / with BentoML's API page without calls to third parties (``index_page_without_tracking``)."""

    def __init__(self, app: Any, path: str) -> None:
        self.app, self.path, self.page = app, path, index_page_without_tracking()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if (self.page and scope["type"] == "http" and scope.get("path") == self.path
                and scope.get("method") in ("GET", "HEAD")):
            from starlette.responses import HTMLResponse

            await HTMLResponse(self.page)(scope, receive, send)
            return
        await self.app(scope, receive, send)


ArabicNewsTopics.add_asgi_middleware(UntrackedIndexPage, path=(ArabicNewsTopics.path_prefix or "").rstrip("/") + "/")

# Package that BentoML imports, in every worker, for each trace exporter of its config (tracing.exporter_type).
TRACE_EXPORTER_PACKAGES = {"otlp": "opentelemetry-exporter-otlp", "zipkin": "opentelemetry-exporter-zipkin",
                           "jaeger": "opentelemetry-exporter-jaeger"}


def check_trace_exporter() -> None:
    """Stop at start-up, in one line, when the configured trace exporter is not installed (requirements.lock
    installs none): BentoML would fail to import it in every worker and restart the workers forever."""
    ArabicNewsTopics.inject_config()  # the service's own section of the config, as each worker will see it
    exporter = tracing_exporter()
    package = TRACE_EXPORTER_PACKAGES.get(exporter or "")
    if package is None:
        return
    try:
        installed = importlib.util.find_spec(package.replace("-", ".")) is not None
    except ModuleNotFoundError:  # a parent package is missing too
        installed = False
    if not installed:
        raise StartupError(f"tracing.exporter_type {exporter} (BentoML config) needs the {package} package, which "
                           f"is not installed: add it to the environment, e.g. `uv pip install {package}`, or remove "
                           "the tracing section")


check_trace_exporter()
