"""BentoML input/output adapters that let POST /classify itself be the adaptively batched endpoint.

BentoML 1.4 batches at a batchable endpoint's HTTP entry (``ServiceAppFactory.api_endpoint`` ->
``batch_infer`` -> ``CorkDispatcher``), and only for endpoints that take ONE argument, which the batcher
concatenates across requests (a list: ``DefaultContainer`` sizes batches by ``len`` and splits results back
by the same counts). A batchable method called from another endpoint of the same service is a plain Python
call and is never batched.

So /classify's whole body is one *root* input: ``ClassifyInput`` validates it as a ``ClassifyRequest``
(every rule and error location as for any pydantic model) and hands BentoML the request's articles as a
plain list. Concurrent requests' lists are concatenated into one model call of up to ``max_batch_size``
articles (a request that does not fit is split), and each request gets its own slice of predictions back,
which ``ClassifyOutput`` renders as ``{"model": tag, "predictions": [...]}``.

Two of BentoML's generic root-model defaults are replaced here because they cost milliseconds per request
or turn client errors into 500s: ``IORootModel.model_validate_json`` parses with ``json.loads`` (a syntax
error is not a ``ValidationError``, so a 500) after regenerating the JSON schema on every call, and
``mime_type`` regenerates the schema on every response.

The root input is the server's business only. Clients see the body's own fields: the schema BentoML
publishes (/schema.json, read by ``bentoml.SyncHTTPClient`` and ``AsyncHTTPClient``; /docs.json) is
``ClassifyRequest``'s, without BentoML's ``root_input`` mark, so ``client.classify(texts=[...], titles=[...])``
sends ``{"texts": [...], "titles": [...]}``, the same body as curl. (With the mark, BentoML's clients accept
one positional dict only.) ``from_inputs`` and ``model_dump`` give clients built with the service object the
same keyword arguments and body.
"""
from __future__ import annotations

from typing import Any, ClassVar

from .bentoml_internals import IORootModel
from .schemas import ArticlePrediction, ClassifyRequest, ClassifyResponse, ModelArticle


def articles_of(request: ClassifyRequest) -> list[ModelArticle]:
    titles = request.titles or [None] * len(request.texts)
    return [ModelArticle(text=text, title=title) for text, title in zip(request.texts, titles)]


class ClassifyInput(IORootModel[ClassifyRequest]):
    """A /classify body: validated as ``ClassifyRequest``, delivered to the batcher as a list of articles."""

    media_type: ClassVar[str | None] = "application/json"

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **kwargs: Any) -> ClassifyInput:
        request = ClassifyRequest.model_validate_json(json_data or b"{}", **kwargs)
        return cls.model_construct(root=articles_of(request))

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return ClassifyRequest.model_json_schema(*args, **kwargs)  # no "root_input": see the module doc

    @classmethod
    def from_inputs(cls, *args: Any, **kwargs: Any) -> ClassifyInput:
        """The body from a client call's arguments: ``texts`` and ``titles``, by keyword or in that order."""
        fields = dict(zip(ClassifyRequest.model_fields, args))
        if set(fields) & set(kwargs) or len(args) > len(fields):
            raise TypeError(f"classify takes texts and titles, once each; got {len(args)} positional arguments "
                            f"and {sorted(kwargs)}")
        return cls.model_construct(root=articles_of(ClassifyRequest(**fields, **kwargs)))

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        """The request body these articles came from (what a client sends)."""
        articles: list[ModelArticle] = self.root
        body: dict[str, Any] = {"texts": [a.text for a in articles]}
        if any(a.title is not None for a in articles):
            body["titles"] = [a.title for a in articles]
        return body


ClassifyInput.__root_input__ = True  # what BentoML sets on the root-input specs it builds itself


class ClassifyOutput(IORootModel[list[ArticlePrediction]]):
    """One request's slice of a batch's predictions, rendered as ``ClassifyResponse``."""

    media_type: ClassVar[str | None] = "application/json"
    model_tag: ClassVar[str] = ""  # set by the service

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        kwargs.pop("exclude", None)
        return {"model": self.model_tag, "predictions": [p.model_dump(**kwargs) for p in self.root]}

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return ClassifyResponse.model_json_schema(*args, **kwargs)
