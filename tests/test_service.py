"""The BentoML service over real HTTP: a real server (``bentoml serve``) on a free loopback port, serving a
baseline trained and registered here, no mocks.

The checks run against conftest's session ``server``: the session's baseline (trained on the built-in sample
corpus) registered in the session's temporary BentoML home (conftest sets BENTOML_HOME before anything imports
bentoml, and the server process inherits it), served once for this module and tests/test_fuzz.py. No test
stops it or depends on another's order: the start-up failure and SIGTERM tests start servers of their own.
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from server_process import (
    REPO,
    ServerStartError,
    free_port,
    log_tail,
    server_env,
    start,
    start_bentoml,
    stop,
    wait_ready,
)

import training
from serving.schemas import ErrorResponse

httpx = pytest.importorskip("httpx")

pytestmark = pytest.mark.slow

EXAMPLE_PAGE = "examples/000_e15a76a4801cf1d0.txt"
ARABIC = ("يستعد المغرب لتنظيم لقاء دولي للتحالف العالمي ضد داعش في شهر ماي المقبل بمشاركة وزير الخارجية الأمريكي، "
          "لتنسيق الجهود الدولية للتصدي للتنظيم الإرهابي.")
SPORT = "فاز المنتخب المغربي على نظيره البرازيلي بهدفين نظيفين في مباراة ودية أقيمت مساء السبت بمدينة طنجة."


@pytest.fixture
def client(server: dict):
    if server["proc"].poll() is not None:
        pytest.fail(f"the server has stopped (exit {server['proc'].returncode}); log:\n{log_tail(server['log'])}")
    with httpx.Client(base_url=server["url"], timeout=60) as http:
        yield http


def _check_prediction(prediction: dict, labels: list[str], multi_label: bool) -> None:
    assert prediction["label"] in labels
    assert prediction["labels"][0] == prediction["label"] and set(prediction["labels"]) <= set(labels)
    assert set(prediction["scores"]) == set(labels)
    assert all(0.0 <= s <= 1.0 for s in prediction["scores"].values())
    if not multi_label:
        assert sum(prediction["scores"].values()) == pytest.approx(1.0, abs=1e-3)
    assert isinstance(prediction["low_confidence"], bool)
    assert 0.0 <= prediction["arabic_ratio"] <= 1.0


# ------------------------------------------------------------------------------------------- healthy paths

def test_health_endpoints(client) -> None:
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and "bentoml_service" in metrics.text


def test_classify_one(client, server) -> None:
    response = client.post("/classify", json={"texts": [ARABIC]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == server["tag"]
    multi_label = client.get("/metadata").json()["multi_label"]
    assert len(body["predictions"]) == 1
    _check_prediction(body["predictions"][0], server["labels"], multi_label)
    assert body["predictions"][0]["arabic_ratio"] > 0.95


def test_classify_batch_keeps_order_and_titles(client, server) -> None:
    texts = [ARABIC, SPORT, ARABIC]
    together = client.post("/classify", json={"texts": texts, "titles": ["المغرب وداعش", None, ""]})
    assert together.status_code == 200, together.text
    predictions = together.json()["predictions"]
    assert len(predictions) == 3
    multi_label = client.get("/metadata").json()["multi_label"]
    for prediction in predictions:
        _check_prediction(prediction, server["labels"], multi_label)
    alone = client.post("/classify", json={"texts": [SPORT]}).json()["predictions"][0]
    assert alone["scores"] == pytest.approx(predictions[1]["scores"], abs=1e-6)  # position 1 is the sport text
    # An empty title means no title, exactly like no titles at all.
    plain = client.post("/classify", json={"texts": [ARABIC]}).json()["predictions"][0]
    assert plain["scores"] == pytest.approx(predictions[2]["scores"], abs=1e-6)


def test_other_script_is_classified_but_flagged(client) -> None:
    response = client.post("/classify", json={"texts": ["The central bank raised interest rates again on Tuesday.",
                                                        "Привет, как дела?"]})
    assert response.status_code == 200, response.text
    assert [p["arabic_ratio"] for p in response.json()["predictions"]] == [0.0, 0.0]
    mixed = client.post("/classify", json={"texts": ["وزير الخارجية met the minister"]}).json()
    assert 0.2 < mixed["predictions"][0]["arabic_ratio"] < 0.8


@pytest.mark.shared
def test_example_page_is_not_sport(client, shared_dir) -> None:
    page = shared_dir / EXAMPLE_PAGE
    if not page.is_file():
        pytest.skip(f"{EXAMPLE_PAGE} is absent")
    response = client.post("/classify", json={"texts": [page.read_text(encoding="utf-8")]})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["label"] != "sport"


def _model_calls(url: str) -> tuple[float, float]:
    """(model calls, calls with one article) so far, from the service's articles-per-call histogram."""
    text = httpx.get(url + "/metrics", timeout=30).text
    count = float(re.search(r"^arabic_news_batch_articles_count(?:\{[^}]*\})? (\S+)$", text, re.M).group(1))
    single = float(re.search(r'^arabic_news_batch_articles_bucket\{le="1\.0"[^}]*\} (\S+)$', text, re.M).group(1))
    return count, single


def test_concurrent_requests_all_succeed_and_are_batched(client, server) -> None:
    def histogram() -> tuple[float, float]:
        return _model_calls(server["url"])

    count_before, single_before = histogram()
    results: list[tuple[int, list]] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        with httpx.Client(base_url=server["url"], timeout=120) as http:
            for j in range(4):
                text = f"{ARABIC if (i + j) % 2 else SPORT} {i}-{j}"
                response = http.post("/classify", json={"texts": [text]})
                with lock:
                    results.append((response.status_code, response.json().get("predictions", [])))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 64
    assert all(status == 200 and len(predictions) == 1 for status, predictions in results), results[:3]
    count_after, single_after = histogram()
    calls = count_after - count_before
    merged = calls - (single_after - single_before)
    # 64 one-article requests from 16 threads: the batcher must have put more than one article in some call
    assert 0 < calls < 64 and merged >= 1, (calls, merged)


def test_explain_maps_evidence_to_original_spelling(client, server) -> None:
    title = "المغرب يستضيف التحالف الدولي ضد داعش"
    response = client.post("/explain", json={"text": ARABIC, "title": title, "top_k": 5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == server["tag"] and body["label"] in server["labels"] and body["method"] == "linear"
    assert 0 < len(body["evidence"]) <= 5 and all(e["weight"] > 0 for e in body["evidence"])
    assert all(e["weight"] < 0 for e in body["counter_evidence"])
    for item in body["evidence"] + body["counter_evidence"]:
        assert item["kind"] in ("word", "char")
        for original in item["original"]:  # the input's own spelling, not the normalised feature
            assert original in ARABIC or original in title, item
    assert body["words"] and all(w["word"] in ARABIC or w["word"] in title for w in body["words"])
    # The normalised feature of "الخارجية" is "الخارجيه"; the explanation shows the original.
    folded = [e for e in body["evidence"] + body["counter_evidence"] if e["feature"] != e["original"][0]]
    assert all(e["original"][0] in ARABIC + title for e in folded)


def test_explain_by_occlusion(client, server) -> None:
    text = f"{ARABIC}\n{SPORT}\nوقال مسؤول إن الاجتماع سيعقد في الرباط."
    response = client.post("/explain", json={"text": text, "method": "occlusion", "label": server["labels"][0]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["method"] == "occlusion" and body["label"] == server["labels"][0]
    for item in body["evidence"] + body["counter_evidence"]:
        assert item["kind"] == "sentence" and text[item["start"]:item["end"]] == item["original"][0]


def test_metadata(client, server) -> None:
    got = client.get("/metadata")
    assert got.status_code == 200
    body = got.json()
    assert body["model"] == server["tag"] and body["model_type"] == "baseline"
    assert body["labels"] == server["labels"] and body["data_fingerprint"].startswith("sha256:")
    assert body["created_at"] and "validation" in body["metrics"] and "test" in body["metrics"]
    assert body["limits"]["max_texts"] == 64 and body["limits"]["max_text_chars"] == 100_000
    assert client.post("/metadata").json() == body


def test_openapi_documents_the_endpoints(client) -> None:
    spec = client.get("/docs.json").json()
    assert spec["info"]["version"] == training.__version__
    assert spec["info"]["description"].startswith("Arabic news topic classifier: POST /classify"), spec["info"]
    for path in ("/classify", "/explain", "/metadata", "/readyz", "/livez", "/metrics"):
        assert path in spec["paths"], path
    request = spec["paths"]["/classify"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert request["properties"]["texts"]["maxItems"] == 64
    assert "root_input" not in request  # clients see the body's fields (serving.bento_io)
    assert re.search(r"[\u0600-\u06FF]", json.dumps(request, ensure_ascii=False))  # Arabic examples
    response = spec["paths"]["/classify"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert {"model", "predictions"} <= set(response["properties"])
    assert spec["paths"]["/metadata"]["get"]["responses"]["200"] == spec["paths"]["/metadata"]["post"]["responses"]["200"]


def test_openapi_documents_the_real_error_responses(client) -> None:
    spec = client.get("/docs.json").json()
    schemas = spec["components"]["schemas"]
    assert schemas["ErrorResponse"]["properties"]["detail"]["items"] == {"$ref": "#/components/schemas/ErrorDetail"}
    assert {"field", "loc", "type", "msg"} == set(schemas["ErrorDetail"]["required"])
    assert all(schemas["ErrorDetail"]["properties"][name]["description"] for name in ("field", "loc", "type", "msg"))
    assert "InvalidArgument" not in schemas and "NotFound" not in schemas  # BentoML's {"error", "detail": str}
    for path in ("/classify", "/explain", "/metadata"):
        responses = spec["paths"][path]["post"]["responses"]
        assert {"200", "400", "413", "415", "500", "504"} <= set(responses) and "404" not in responses, (path, responses)
        for status in ("400", "413", "415"):
            media = responses[status]["content"]["application/json"]
            assert media["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}
            assert responses[status]["description"] and media["examples"], (path, status)
            for example in media["examples"].values():
                ErrorResponse.model_validate(example["value"])
    assert "503" in spec["paths"]["/classify"]["post"]["responses"]  # the batcher's overload answer
    assert "plain_text" in spec["paths"]["/classify"]["post"]["responses"]["415"]["content"]["application/json"]["examples"]
    # the examples are what the API's own validation answers
    examples = spec["paths"]["/classify"]["post"]["responses"]["400"]["content"]["application/json"]["examples"]
    assert examples["missing_field"]["value"] == client.post("/classify", json={}).json()


# ---------------------------------------------------------------------------------------------- bad input

BAD_JSON = [
    ("empty list", {"texts": []}, "texts", "too_short"),
    ("65 texts", {"texts": ["نص"] * 65}, "texts", "too_long"),
    ("blank text", {"texts": ["نص", "  \n\t "]}, "texts[1]", "value_error"),
    ("invisible marks only", {"texts": ["نص", "\u200f\u200e\u200b\u00a0\u061c"]}, "texts[1]", "value_error"),
    ("text over 100,000 characters", {"texts": ["ا" * 100_001]}, "texts[0]", "string_too_long"),
    ("texts not a list", {"texts": "نص"}, "texts", "list_type"),
    ("a text that is a number", {"texts": [42]}, "texts[0]", "string_type"),
    ("a title that is a number", {"texts": ["نص"], "titles": [7]}, "titles[0]", "string_type"),
    ("titles of the wrong length", {"texts": ["نص", "نص"], "titles": ["عنوان"]}, "titles", "value_error"),
    ("missing texts", {}, "texts", "missing"),
    ("unknown field", {"texts": ["نص"], "text": "نص"}, "text", "extra_forbidden"),
    ("body not an object", ["نص"], "body", "model_type"),
]


def _assert_names(response, field: str, rule: str, status: int = 400) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert any(d["field"] == field and d["type"] == rule for d in body["detail"]), body
    assert field in body["error"]


@pytest.mark.parametrize("case,body,field,rule", BAD_JSON, ids=[c[0] for c in BAD_JSON])
def test_bad_classify_requests_name_field_and_rule(client, case, body, field, rule) -> None:
    _assert_names(client.post("/classify", json=body), field, rule)


MALFORMED = [
    ("invalid JSON", b'{"texts": ["a",', "body", "json_invalid"),
    ("lone surrogate", b'{"texts": ["\\ud800"]}', "body", "json_invalid"),
    ("NaN for a text", b'{"texts": [NaN]}', "texts[0]", "string_type"),
    ("invalid UTF-8", '{"texts": ["نص'.encode() + b"\xff\xfe" + b'"]}', "body", "utf8_invalid"),
    ("empty body", b"", "texts", "missing"),
]


@pytest.mark.parametrize("case,raw,field,rule", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_bodies_are_400(client, case, raw, field, rule) -> None:
    _assert_names(client.post("/classify", content=raw, headers={"content-type": "application/json"}), field, rule)


def test_declared_oversize_body_is_refused_before_reading(server) -> None:
    limit = client_limit(server)
    host, port = server["url"].removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"POST /classify HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {limit + 1}\r\n\r\n".encode())  # headers only: never sends the body
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, _, payload = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), reply[:300]
    assert json.loads(payload)["detail"][0]["type"] == "body_too_large"


def test_streamed_oversize_body_is_refused(client, server) -> None:
    limit = client_limit(server)

    def chunks():  # no Content-Length: the size is only known while reading
        yield b'{"texts": ["'
        sent = 0
        while sent <= limit:
            yield b"a" * 65536
            sent += 65536
        yield b'"]}'

    _assert_names(client.post("/classify", content=chunks(), headers={"content-type": "application/json"}),
                  "body", "body_too_large", status=413)


def client_limit(server: dict) -> int:
    return httpx.get(server["url"] + "/metadata", timeout=10).json()["limits"]["max_body_bytes"]


@pytest.mark.parametrize("body,field,rule", [
    ({"text": ""}, "text", "value_error"),
    ({"text": "نص", "top_k": 0}, "top_k", "greater_than_equal"),
    ({"text": "نص", "top_k": "5"}, "top_k", "int_type"),
    ({"text": "نص", "label": "weather"}, "label", "unknown_label"),
    ({"text": "نص", "method": "magic"}, "method", "literal_error"),
    ({"texts": ["نص"]}, "text", "missing"),
])
def test_bad_explain_requests_name_field_and_rule(client, body, field, rule) -> None:
    _assert_names(client.post("/explain", json=body), field, rule)


def test_server_survives_bad_input(client) -> None:
    assert client.post("/classify", content=b"\x00\x01garbage", headers={"content-type": "application/json"}).status_code == 400
    assert client.post("/classify", files={"texts": ("a.txt", b"x")}).status_code == 415
    form = client.post("/classify", content='{"texts": ["نص"]}'.encode(),  # curl -d without a Content-Type
                       headers={"content-type": "application/x-www-form-urlencoded"})
    _assert_names(form, "body", "unsupported_media_type", status=415)
    plain = client.post("/classify", content='{"texts": ["نص"]}'.encode(), headers={"content-type": "text/plain"})
    _assert_names(plain, "body", "unsupported_media_type", status=415)  # JSON sent as text: still not parsed
    assert client.post("/classify", json={"texts": ["نص"]}).status_code == 200


def test_errors_say_what_to_do(client) -> None:
    def message(path: str, body: dict) -> str:
        response = client.post(path, json=body)
        assert response.status_code == 400, response.text
        return response.json()["error"]

    assert "did you mean 'texts'? Otherwise remove it" in message("/classify", {"text": "نص"})
    assert "did you mean 'text'? Otherwise remove it" in message("/explain", {"texts": ["نص"]})
    assert "remove it (/docs.json lists each endpoint's fields)" in message("/classify", {"texts": ["نص"], "zzz": 1})
    assert "split or shorten it (GET /metadata lists the limits)" in message("/classify", {"texts": ["ا" * 100_001]})
    assert "send the rest in another request" in message("/classify", {"texts": ["نص"] * 65})


def test_a_byte_order_mark_is_ignored_and_a_compressed_body_refused(client) -> None:
    import gzip

    body = json.dumps({"texts": ["فاز المنتخب بالمباراة"]}, ensure_ascii=False).encode()
    with_bom = client.post("/classify", content=b"\xef\xbb\xbf" + body, headers={"content-type": "application/json"})
    assert with_bom.status_code == 200 and with_bom.json() == client.post("/classify", content=body).json()
    invalid = client.post("/classify", content=b"\xef\xbb\xbf" + body[:5] + b"\xff" + body[5:],
                          headers={"content-type": "application/json"})
    assert "not valid UTF-8 (byte 8:" in invalid.json()["error"]  # counted in the bytes as sent
    compressed = client.post("/classify", content=gzip.compress(body),
                             headers={"content-type": "application/json", "content-encoding": "gzip"})
    _assert_names(compressed, "body", "unsupported_content_encoding", status=415)
    assert "Content-Encoding gzip is not accepted; send the JSON uncompressed" in compressed.json()["error"]


@pytest.mark.parametrize("path", ["/classify", "/explain"])
def test_generated_requests_never_get_a_server_error(server, path) -> None:
    """Requests generated from the served OpenAPI document, valid and deliberately invalid: never a 5xx."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.checks import not_a_server_error

    operation = schemathesis.openapi.from_url(server["url"] + "/docs.json")[path]["POST"]
    statuses: list[int] = []
    for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
        @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck),
                  phases=[Phase.explicit, Phase.generate], derandomize=True)  # the same requests in every run
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case) -> None:
            response = case.call(base_url=server["url"], timeout=60)
            statuses.append(response.status_code)
            case.validate_response(response, checks=[not_a_server_error])

        check()
    assert 200 in statuses and any(400 <= s < 500 for s in statuses), statuses


# ---------------------------------------------------------------------------------- unknown paths and methods

@pytest.mark.parametrize("method,path", [("GET", "/no-such-endpoint"), ("POST", "/classify/extra"),
                                         ("GET", "/static_content/missing.js"), ("HEAD", "/predict")])
def test_unknown_path_is_a_json_404_naming_the_endpoints(client, method, path) -> None:
    response = client.request(method, path, json={"texts": [ARABIC]} if method == "POST" else None)
    assert response.status_code == 404 and response.headers["content-type"] == "application/json", response.text
    if method == "HEAD":
        return  # no body, but the JSON headers
    body = ErrorResponse.model_validate(response.json())
    _assert_names(response, "request.path", "not_found", status=404)
    msg = body.detail[0].msg
    assert path in msg and "/docs.json" in msg
    for endpoint in ("POST /classify", "POST /explain", "GET /metadata", "POST /metadata", "GET /livez", "GET /readyz"):
        assert endpoint in msg, msg


@pytest.mark.parametrize("method,path,allow", [
    ("GET", "/classify", "POST"),
    ("PUT", "/explain", "POST"),
    ("DELETE", "/metadata", "GET, HEAD, POST"),  # GET is the mounted app's: Starlette alone would say POST
    ("POST", "/livez", "GET, HEAD"),
    ("POST", "/docs.json", "GET, HEAD"),
])
def test_wrong_method_is_a_json_405_with_allow(client, method, path, allow) -> None:
    response = client.request(method, path)
    _assert_names(response, "request.method", "method_not_allowed", status=405)
    assert response.headers["allow"] == allow
    assert response.headers["content-type"] == "application/json"
    msg = ErrorResponse.model_validate(response.json()).detail[0].msg
    assert method in msg and path in msg and allow in msg, msg


def test_bentoml_pages_are_still_served(client) -> None:
    index = client.get("/")
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    # BentoML's page, calling no third party: no tag manager, and no Swagger validator badge (it would send the
    # address of /docs.json to validator.swagger.io)
    assert 'id="swagger-ui"' in index.text and "google" not in index.text.lower()
    assert "validatorUrl: null" in index.text and "swagger-initializer.js" not in index.text
    assets = re.findall(r'(?:href|src)="\./(static_content/[^"]+)"', index.text)
    assert assets, index.text[:500]
    for asset in assets:
        assert client.get("/" + asset).status_code == 200, asset
    assert client.get("/docs.json").json()["paths"]
    assert client.get("/schema.json").json()["name"] == "arabic_news_topics"
    assert client.head("/metadata").status_code == 200


# ------------------------------------------------------------------------------------------ BentoML's clients

def test_bentoml_sync_client_takes_keyword_arguments(server) -> None:
    """bentoml.SyncHTTPClient, built from the server's /schema.json, calls /classify with the body's fields as
    keyword arguments (or texts positionally) and sends the body curl sends."""
    import bentoml
    from bentoml.exceptions import BentoMLException

    with bentoml.SyncHTTPClient(server["url"], timeout=60) as bento:
        body = bento.classify(texts=[ARABIC, SPORT], titles=["المغرب وداعش", None])
        positional = bento.classify([SPORT])
        with pytest.raises(BentoMLException, match=r"texts\[0\]"):  # the service's 400 names the field
            bento.classify(texts=[" "])
    curl = httpx.post(server["url"] + "/classify", json={"texts": [ARABIC, SPORT], "titles": ["المغرب وداعش", None]},
                      timeout=60).json()
    assert body == curl and body["model"] == server["tag"] and len(body["predictions"]) == 2
    assert positional["predictions"][0]["scores"] == pytest.approx(body["predictions"][1]["scores"], abs=1e-6)


def test_bentoml_async_client_calls_are_batched(server) -> None:
    """Concurrent keyword calls from bentoml.AsyncHTTPClient still share model calls (adaptive batching)."""
    import asyncio

    import bentoml

    async def together() -> list[dict]:
        async with bentoml.AsyncHTTPClient(server["url"], timeout=120) as bento:
            return await asyncio.gather(*(bento.classify(texts=[f"{SPORT} {i}"], titles=[None]) for i in range(32)))

    calls_before, single_before = _model_calls(server["url"])
    results = asyncio.run(together())
    calls_after, single_after = _model_calls(server["url"])
    assert [len(r["predictions"]) for r in results] == [1] * 32
    calls = calls_after - calls_before
    assert 0 < calls < 32 and calls - (single_after - single_before) >= 1, calls


# ------------------------------------------------------------------------------------------ logs and tracing

def _log_since(log: Path, offset: int, needle: str) -> str:
    """The server log written after ``offset`` characters, once it contains ``needle`` (at most 40 polls)."""
    for _ in range(40):
        text = log.read_text(encoding="utf-8", errors="replace")[offset:]
        if needle in text:
            return text
        time.sleep(0.25)
    pytest.fail(f"{needle!r} not logged; log tail:\n{log_tail(log)}")


def test_client_errors_are_one_info_line_without_the_text(client, server) -> None:
    marker = uuid.uuid4().hex
    offset = len(server["log"].read_text(encoding="utf-8", errors="replace"))
    bad = client.post("/classify", json={"texts": [f"{ARABIC} {marker}", " "], f"{SPORT} {marker}": 1})
    plain = client.post("/classify", content=f"{ARABIC} {marker}".encode(), headers={"content-type": "text/plain"})
    lost = client.get("/no/such/endpoint")  # only the access log records a request's path (docs/serving.md)
    assert (bad.status_code, plain.status_code, lost.status_code) == (400, 415, 404)
    logged = _log_since(server["log"], offset, "client error 404 GET")
    errors = [line for line in logged.splitlines() if "client error" in line]
    assert len(errors) == 3 and all("[INFO]" in line for line in errors), logged
    assert errors[0].endswith("client error 400 POST /classify: texts[1] value_error, <unknown> extra_forbidden")
    assert errors[1].endswith("client error 415 POST /classify: body unsupported_media_type")
    assert "client error 404 GET <unknown path>" in errors[2], errors[2]
    assert marker not in logged and ARABIC[:20] not in logged and SPORT[:20] not in logged, logged
    assert "Traceback" not in logged and "[ERROR]" not in logged, logged


def test_startup_log_names_tag_model_type_and_labels(server) -> None:
    log = server["log"].read_text(encoding="utf-8", errors="replace")
    line = next((line for line in log.splitlines() if "serving model" in line), log[-3000:])
    assert "[INFO]" in line and server["tag"] in line and "model type baseline" in line, line
    assert line.endswith("labels " + ", ".join(server["labels"])), line


def test_endpoints_are_not_traced_without_an_exporter(client) -> None:
    """BentoML answers X-BentoML-Request-ID with the id of the request's span: no exporter, no span."""
    response = client.post("/classify", json={"texts": [ARABIC]})
    assert response.status_code == 200 and "x-bentoml-request-id" not in response.headers, response.headers


# ------------------------------------------------------------------------------------------------ lifecycle

def _startup_failure(tag: str, log: Path, **env: str) -> str:
    """Start a server for ``tag`` ("": none set), which must exit with status 1 within 120 s; returns its log."""
    started = time.monotonic()
    proc = start_bentoml(free_port(), log, ARABIC_NEWS_MODEL_TAG=tag, **env)
    try:
        code = proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        stop(proc)
        pytest.fail(f"a server for {tag} kept running; log:\n{log_tail(log)}")
    assert code == 1 and time.monotonic() - started < 120, (code, log_tail(log))
    return log_tail(log, 20000)


def _one_error_line(output: str, start: str = "error: cannot serve ARABIC_NEWS_MODEL_TAG=") -> str:
    """The start-up error is the whole output: one line, no traceback."""
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(start), output
    return lines[0]


def test_empty_store_names_the_default_model_and_the_variable_to_choose_another(tmp_path) -> None:
    output = _startup_failure("", tmp_path / "empty.log", BENTOML_HOME=str(tmp_path / "empty-store"))
    line = _one_error_line(output, "error: cannot serve arabic-news-topics (the default; set ARABIC_NEWS_MODEL_TAG "
                                   "to serve another model): ")
    assert "is not in the BentoML store" in line, line


def test_a_path_as_model_tag_is_refused_in_one_line(tmp_path) -> None:
    line = _one_error_line(_startup_failure("models/runs/demo/artifacts/baseline", tmp_path / "path.log"))
    assert line.endswith(": it takes a model store tag (NAME or NAME:VERSION, see `python -m training models list`), "
                         "not a path; put a run's model in the store with `python -m training train ... --register`"), line


def test_missing_model_tag_fails_fast_naming_the_tag(tmp_path) -> None:
    line = _one_error_line(_startup_failure("no-such-topics-model:v0", tmp_path / "missing.log"))
    assert "no-such-topics-model:v0" in line and "not in the BentoML store" in line, line


def test_a_malformed_setting_stops_the_server_in_one_line(server, tmp_path) -> None:
    output = _startup_failure(server["tag"], tmp_path / "timeout.log", ARABIC_NEWS_TIMEOUT_S="0.5")
    _one_error_line(output, "error: ARABIC_NEWS_TIMEOUT_S='0.5': expected a whole number of at least 1 (e.g. 120); "
                            "unset it for the default, 120")
    output = _startup_failure(server["tag"], tmp_path / "access.log", ARABIC_NEWS_ACCESS_LOG="offf")
    _one_error_line(output, "error: ARABIC_NEWS_ACCESS_LOG='offf': expected 1/0, true/false, yes/no or on/off")


def test_a_trace_exporter_that_is_not_installed_stops_the_server_in_one_line(server, tmp_path) -> None:
    """docs/serving.md's tracing config names the OTLP exporter, which requirements.lock does not install: without
    this check every worker failed to import it and was restarted forever, and no request was ever answered."""
    config = tmp_path / "bentoml_configuration.yaml"
    config.write_text("services:\n  arabic_news_topics:\n    tracing:\n      exporter_type: otlp\n      sample_rate: 1.0\n"
                      "      otlp: {protocol: http, endpoint: 'http://127.0.0.1:9/v1/traces'}\n", encoding="utf-8")
    output = _startup_failure(server["tag"], tmp_path / "otlp.log", BENTOML_CONFIG=str(config))
    lines = [line for line in output.splitlines() if line.strip()]  # BentoML's own line names the config file
    assert "Traceback" not in output and lines[-1].startswith(
        "error: tracing.exporter_type otlp (BentoML config) needs the opentelemetry-exporter-otlp package, which is "
        "not installed: add it to the environment"), output


def test_corrupt_model_entry_fails_fast_naming_tag_and_file(baseline_run: dict, tmp_path) -> None:
    """A store entry whose model file changed since training stops the server at once (no worker restarts)."""
    from training.registry import register, resolve

    tag = register(baseline_run["best_artifact"], f"topics-corrupt-{uuid.uuid4().hex[:8]}")["tag"]
    model_file = next(f for f in resolve(tag).iterdir() if f.name not in ("manifest.json", "README.md") and f.is_file())
    with model_file.open("r+b") as handle:
        handle.seek(64)
        handle.write(b"\x00corrupt\x00")
    line = _one_error_line(_startup_failure(tag, tmp_path / "corrupt.log"))
    assert tag in line and f"{model_file.name} is corrupt" in line, line


def test_a_built_bento_serves_the_model_it_packs(baseline_run: dict, tmp_path) -> None:
    """`bentoml serve` of a Bento on the machine that built it: the version it packs, not the one promoted since."""
    import httpx

    from training.registry import promote, register

    name = f"topics-bento-{uuid.uuid4().hex[:8]}"
    packed = register(baseline_run["best_artifact"], name)["tag"]
    built = subprocess.run([sys.executable, "-m", "bentoml", "build", "--output", "tag"], cwd=REPO, capture_output=True,
                           text=True, timeout=600, env=server_env(ARABIC_NEWS_MODEL_TAG=packed))
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    bento = built.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
    promote(register(baseline_run["best_artifact"], name)["tag"])
    port, log = free_port(), tmp_path / "bento.log"
    proc = start([sys.executable, "-m", "bentoml", "serve", bento, "--host", "127.0.0.1", "--port", str(port)], log)
    try:
        try:
            wait_ready(f"http://127.0.0.1:{port}", proc, log)
        except ServerStartError as exc:
            pytest.fail(str(exc))
        assert httpx.get(f"http://127.0.0.1:{port}/metadata", timeout=10).json()["model"] == packed
    finally:
        stop(proc)


def test_building_a_bento_without_the_model_says_so_in_one_line(tmp_path) -> None:
    built = subprocess.run([sys.executable, "-m", "bentoml", "build"], cwd=REPO, capture_output=True, text=True,
                           timeout=600, env=server_env(ARABIC_NEWS_MODEL_TAG="", BENTOML_HOME=str(tmp_path / "empty")))
    assert built.returncode != 0
    line = _one_error_line(built.stdout + built.stderr, "error: cannot build a Bento of arabic-news-topics (the "
                                                        "default; set ARABIC_NEWS_MODEL_TAG to pack another model): ")
    assert "is not in the BentoML store" in line, line


def test_sigterm_shuts_down_cleanly(baseline_run: dict, tmp_path) -> None:
    """A server of its own (the session's keeps serving): SIGTERM -> exit status 0 within a few seconds."""
    from training.registry import register

    tag = register(baseline_run["best_artifact"], f"topics-sigterm-{uuid.uuid4().hex[:8]}")["tag"]
    port, log = free_port(), tmp_path / "sigterm.log"
    proc = start_bentoml(port, log, ARABIC_NEWS_MODEL_TAG=tag)
    try:
        try:
            wait_ready(f"http://127.0.0.1:{port}", proc, log)
        except ServerStartError as exc:
            pytest.fail(str(exc))
        started = time.monotonic()
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            code = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"no exit 20 s after SIGTERM; log:\n{log_tail(log)}")
        assert code == 0, log_tail(log)
        assert time.monotonic() - started < 15
    finally:
        stop(proc)


def test_demo_checks_its_port_before_training() -> None:
    """`make demo` trains for a minute before serving: a taken port is reported first, with the way out."""
    demo = Path(__file__).resolve().parents[1] / "serving" / "demo.sh"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        busy = subprocess.run(["bash", str(demo), "--check-port"], env=os.environ | {"PORT": port},
                              capture_output=True, text=True, timeout=30)
    assert busy.returncode == 2
    assert busy.stderr.strip() == (f"error: port {port} is already in use; stop what serves there, or pick another: "
                                   f"make demo PORT={int(port) + 1}")
    free = subprocess.run(["bash", str(demo), "--check-port"], env=os.environ | {"PORT": str(free_port())},
                          capture_output=True, text=True, timeout=30)
    assert free.returncode == 0 and not free.stderr
