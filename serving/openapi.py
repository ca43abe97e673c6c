"""The service's OpenAPI document (/docs.json, and ``openapi.yaml`` in a built Bento), completed.

BentoML documents every API as answering 400, 404 and 500 with ``{"error": str, "detail": str}``, while this
service answers every 4xx with ``serving.schemas.ErrorResponse`` (see ``serving.limits``). ``complete_openapi``
corrects the document to the answers the service really gives; ``documented_endpoints`` lists its operations
for the 404 and 405 answers.
"""
from __future__ import annotations

import copy
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import bentoml
from pydantic import BaseModel, ValidationError

from .bentoml_internals import INFRA_TAG, OpenAPISpecification, bentoml_cattr
from .limits import MAX_BODY_BYTES, error_body, too_large_error, unsupported_encoding_error, unsupported_media_error
from .schemas import ErrorResponse

if TYPE_CHECKING:
    from _bentoml_sdk.method import APIMethod  # type annotations only

_SCHEMAS = "#/components/schemas/"
# BentoML's component for its own 5xx body, {"error": message}; kept for every documented 5xx.
_SERVER_ERROR = "InternalServerError"
_HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
# Bodies whose 400 answers, produced by each API's own validation, are the 400 examples.
_BAD_BODIES = (("missing_field", "A required field is missing", b"{}"),
               ("invalid_json", "The body is not JSON", b"{"))


def _json_response(description: str, schema: str, examples: dict[str, dict] | None = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": {"$ref": _SCHEMAS + schema}}
    if examples:
        media["examples"] = examples
    return {"description": description, "content": {"application/json": media}}


def _client_error(description: str, examples: dict[str, tuple[str, dict]]) -> dict[str, Any]:
    """A 4xx response documented as ``ErrorResponse``; each example is checked against the model, so an
    ``error_body`` that no longer fits it stops the server at import rather than misleading clients."""
    for _, body in examples.values():
        ErrorResponse.model_validate(body)
    return _json_response(description, ErrorResponse.__name__,
                          {name: {"summary": summary, "value": body} for name, (summary, body) in examples.items()})


def _validation_examples(input_spec: type[BaseModel]) -> dict[str, tuple[str, dict]]:
    examples = {}
    for name, summary, body in _BAD_BODIES:
        try:
            input_spec.model_validate_json(body)
        except ValidationError as exc:  # what BentoML answers, as serving.limits rewrites it
            examples[name] = (summary, error_body(exc.errors(include_context=False, include_input=False)))
    return examples


def _server_errors(batchable: bool, timeout: float | None) -> dict[str, Any]:
    """BentoML's own 5xx answers for an API."""
    errors = {"500": _json_response("Unexpected server error; the server log has the details.", _SERVER_ERROR)}
    if batchable:  # CorkDispatcher refuses a request it predicts it cannot serve within max_latency_ms
        errors["503"] = _json_response("The server is overloaded: the adaptive batcher cannot serve the request "
                                       "within its latency budget; retry later.", _SERVER_ERROR)
    if timeout:
        errors["504"] = _json_response(f"No answer within the {timeout:g} s request timeout.", _SERVER_ERROR)
    return errors


def _api_errors(api: APIMethod[..., Any], timeout: float | None) -> dict[str, Any]:
    """The error responses of one API: serving.limits' 4xx and BentoML's 5xx. No 404: the route exists."""
    return {
        "400": _client_error("The request breaks a rule: the body is not JSON or not UTF-8, a field is missing, "
                             "unknown or of the wrong type, or a value is out of range or not allowed. `detail` "
                             "names each field and rule.", _validation_examples(api.input_spec)),
        "413": _client_error(f"The body is over {MAX_BODY_BYTES:,} bytes ({MAX_BODY_BYTES / 2**20:g} MiB); send fewer "
                             "or shorter texts per request.",
                             {"body_too_large": ("The body is too large",
                                                 too_large_error(MAX_BODY_BYTES, f"{MAX_BODY_BYTES + 1} bytes"))}),
        "415": _client_error("The body is not sent as JSON: plain text, form-encoded (curl -d without a "
                             "Content-Type), multipart, a pickle, or any Content-Type other than application/json "
                             "(or application/*+json), or compressed (a Content-Encoding such as gzip). No "
                             "Content-Type at all is read as JSON.",
                             {"plain_text": ("A text/plain body", unsupported_media_error("text/plain")),
                              "form_encoded": ("A form-encoded body (curl -d without a Content-Type)",
                                               unsupported_media_error("application/x-www-form-urlencoded")),
                              "compressed": ("A gzip-compressed body", unsupported_encoding_error("gzip"))}),
        **_server_errors(api.batchable, timeout),
    }


def complete_openapi(spec: OpenAPISpecification, service: bentoml.Service[Any],
                     get_routes: Collection[str] = (), version: str | None = None) -> OpenAPISpecification:
    """``spec`` (BentoML's document for ``service``) with each API operation's error responses replaced by
    the ones the service really gives (``_api_errors``), ``ErrorResponse`` among the components in place of
    BentoML's ``InvalidArgument`` and ``NotFound``, a GET operation for each of ``get_routes``: API routes
    that a mounted app also answers with GET, with the API's 200 response, and ``version`` where BentoML has
    none (a service served from source, not from a built Bento, is version "None").

    The document is edited as the plain dict BentoML serves and converted back to BentoML's classes; a change
    in BentoML's document (an API without its POST operation, no InternalServerError component, a key its
    classes drop) raises RuntimeError rather than serving a document that says something else."""
    document = spec.asdict()
    if version and document["info"].get("version") in (None, "None"):
        document["info"]["version"] = version
    paths, schemas = document["paths"], document["components"]["schemas"]
    if _SERVER_ERROR not in schemas:
        raise RuntimeError(f"BentoML's OpenAPI document has no {_SERVER_ERROR} schema; update complete_openapi")
    timeout = service.config.get("traffic", {}).get("timeout")
    for api in service.apis.values():
        operation = paths.get(api.route, {}).get("post") or {}
        responses = {str(status): response for status, response in operation.get("responses", {}).items()}
        if "200" not in responses:
            raise RuntimeError(f"BentoML's OpenAPI document has no POST {api.route} answering 200; "
                               "update complete_openapi")
        operation["responses"] = {"200": responses["200"], **_api_errors(api, timeout)}
    for route in get_routes:
        post = paths[route]["post"]
        paths[route]["get"] = {"responses": {"200": post["responses"]["200"], **_server_errors(False, timeout)},
                               "tags": post["tags"], "description": post["description"],
                               "operationId": f"{post['operationId']}_get"}

    error_schema = ErrorResponse.model_json_schema(ref_template=_SCHEMAS + "{model}")
    schemas.update(error_schema.pop("$defs"))
    schemas[ErrorResponse.__name__] = error_schema
    for replaced in ("InvalidArgument", "NotFound"):  # referenced only by the responses replaced above
        schemas.pop(replaced, None)

    # structure() consumes parts of the dict it reads, so it reads a copy
    completed = bentoml_cattr.structure(copy.deepcopy(document), OpenAPISpecification)
    if completed.asdict() != document:
        raise RuntimeError("BentoML's OpenAPI classes do not keep the completed document as written; "
                           "update complete_openapi")
    return completed


def documented_endpoints(spec: OpenAPISpecification) -> dict[str, tuple[str, ...]]:
    """Path -> HTTP methods of every operation in ``spec``, the service's own paths before BentoML's
    infrastructure endpoints (/livez, /metrics, ...)."""
    paths = spec.asdict()["paths"]

    def infrastructure(path: str) -> bool:
        return any(INFRA_TAG.name in paths[path][m].get("tags", []) for m in _HTTP_METHODS if m in paths[path])

    return {path: tuple(m.upper() for m in _HTTP_METHODS if m in paths[path])
            for path in sorted(paths, key=infrastructure)}
