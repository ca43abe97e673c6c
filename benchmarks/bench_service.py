"""Bounded load test of the BentoML service against a naive one-call-per-request server, same model, same run.

    python benchmarks/bench_service.py                                  # baseline: the store's default model
    python benchmarks/bench_service.py --baseline runs/x/baseline --transformer runs/x/transformer \\
        --requests 300 --concurrency 1,8 --articles 1 --rounds 2 --json-out bench.json

For each model (an artefact directory or a store tag): registers it in a temporary BentoML home, starts
``bentoml serve serving.service:ArabicNewsTopics`` and ``benchmarks/naive_server.py`` on free loopback ports,
warms both up, then for each concurrency level runs the same bounded load (``--requests`` POST /classify
calls of ``--articles`` real articles each, from ``--concurrency`` client threads with keep-alive
connections, stopping early at ``--time-limit`` seconds) against the anchor and the service in turn
(``--rounds`` times, alternating, to even out a shared CPU's drift; rounds are averaged, p99 is the worst).
Reports requests/s, articles/s, p50/p99 latency, errors, the servers' own CPU time per article (all their
processes; a figure that other load on a shared machine disturbs much less than throughput) and, for the
service, the mean articles per model call from its /metrics (the adaptive batcher at work).

Before the servers start, the model alone is timed in this process (CPU time per article in calls of 1, 2, 4,
8, 16 and 64 articles, over the same articles the load sends). The anchor's CPU per article divided by the
model's own cost in calls of 64 bounds what any batching server can gain in CPU per article, however little
its HTTP layer costs.

CPU per request outside the model (``outside ms/req``): the server's CPU time over the measured requests,
minus the model's own CPU time for the same articles in calls of the size the server made (the anchor: one
request per call; the service: its mean articles per model call from /metrics, rounded down to a measured
size), per request. It is what the server itself costs per request: HTTP, validation, middleware, batching,
logging, tracing, metrics. For the service it is also computed with the model's CPU measured inside the
server around each predict call (``arabic_news_model_cpu_seconds`` on /metrics; ``in-server`` column): the
same load then weighs on both terms, which makes it the steadier figure on a busy shared machine. Measure it
at concurrency 1 (``--concurrency 1``) for the plainest figure.

Articles come from ../shared/datasets/arabic-news-topics/test.jsonl when present, else the sample corpus.
The client runs on the same machine as the servers: all figures include its CPU cost.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

sys.path.insert(0, str(REPO / "tests"))

from server_process import SERVICE, ServerStartError, free_port, server_env, start, stop, wait_ready  # noqa: E402

SHARED_TEST = REPO.parent / "shared" / "datasets" / "arabic-news-topics" / "test.jsonl"
SAMPLE = REPO / "training" / "data" / "sample_data" / "sample_news.jsonl"
PYTHON = sys.executable


def artefact_dir(reference: str) -> Path:
    """An artefact directory as given, or the directory of a store tag in the current BENTOML_HOME."""
    if Path(reference).is_dir():
        return Path(reference).resolve()
    find = ("import sys\nfrom training.registry import RegistryError, locate\n"
            "try: print(locate(sys.argv[1])[1])\nexcept RegistryError as error: sys.exit(str(error))")
    out = subprocess.run([PYTHON, "-c", find, reference], capture_output=True, text=True, env=server_env(), cwd=REPO,
                         timeout=120)
    if out.returncode != 0:
        print(f"error: {(out.stderr.strip().splitlines() or ['cannot find it'])[-1]}", file=sys.stderr)
        raise SystemExit(2)
    return Path(out.stdout.strip().splitlines()[-1])


def register(path: Path, home: str, name: str) -> str:
    code = "import sys; from training.registry import register; print(register(sys.argv[1], sys.argv[2])['tag'])"
    out = subprocess.run([PYTHON, "-c", code, str(path), name], capture_output=True, text=True,
                         env=server_env(BENTOML_HOME=home), cwd=REPO, timeout=300)
    if out.returncode != 0:
        raise SystemExit(f"cannot register {path}: {out.stderr.strip()[-2000:]}")
    return out.stdout.strip().splitlines()[-1]


class Server:
    def __init__(self, name: str, cmd: list[str], env: dict[str, str], port: int, log_dir: str) -> None:
        self.name, self.url = name, f"http://127.0.0.1:{port}"
        self.log = Path(log_dir) / f"{name}.log"
        self.proc = start(cmd, self.log, **env)

    def wait_ready(self) -> None:
        try:
            wait_ready(self.url, self.proc, self.log)
        except ServerStartError as exc:
            raise SystemExit(f"{self.name}: {exc}") from None

    def cpu_seconds(self) -> float:
        """CPU time used so far by the server and all its worker processes (user + system)."""
        import psutil

        total = 0.0
        try:
            root = psutil.Process(self.proc.pid)
            for process in [root, *root.children(recursive=True)]:
                try:
                    times = process.cpu_times()
                    total += times.user + times.system
                except psutil.NoSuchProcess:
                    pass
        except psutil.NoSuchProcess:
            pass
        return total

    def stop(self) -> None:
        stop(self.proc)


def load_articles(limit: int = 2000) -> tuple[list[dict], str]:
    path = SHARED_TEST if SHARED_TEST.is_file() else SAMPLE
    articles = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                articles.append({"text": row["text"], "title": row.get("title") or None})
            if len(articles) >= limit:
                break
    return articles, str(path)


def run_load(url: str, articles: list[dict], requests: int, concurrency: int, per_request: int,
             time_limit: float) -> dict:
    """``requests`` POST /classify calls from ``concurrency`` threads; stops issuing at ``time_limit``."""
    counter = itertools.count()
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + time_limit

    def client() -> None:
        with httpx.Client(timeout=120) as http:
            while time.monotonic() < deadline:
                i = next(counter)
                if i >= requests:
                    return
                batch = [articles[(i * per_request + j) % len(articles)] for j in range(per_request)]
                body = {"texts": [a["text"] for a in batch], "titles": [a["title"] for a in batch]}
                started = time.perf_counter()
                try:
                    response = http.post(url + "/classify", json=body)
                    ok = response.status_code == 200 and len(response.json()["predictions"]) == per_request
                    problem = None if ok else f"HTTP {response.status_code}: {response.text[:200]}"
                except httpx.HTTPError as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                elapsed = time.perf_counter() - started
                with lock:
                    (errors.append(problem) if problem else latencies.append(elapsed))

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    latencies.sort()

    def pct(q: float) -> float | None:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 1) if latencies else None

    return {"requests": len(latencies) + len(errors), "ok": len(latencies), "errors": len(errors),
            "first_error": errors[0] if errors else None, "wall_s": round(wall, 2),
            "requests_per_s": round(len(latencies) / wall, 2), "articles_per_s": round(len(latencies) * per_request / wall, 2),
            "p50_ms": pct(0.50), "p99_ms": pct(0.99)}


def batch_stats(url: str) -> tuple[float, float, float]:
    """(sum, count) of the service's articles-per-model-call histogram, and the CPU seconds its model calls
    have used (``arabic_news_model_cpu_seconds``, measured in the server around each predict call)."""
    text = httpx.get(url + "/metrics", timeout=10).text
    values = {}
    for name in ("batch_articles_sum", "batch_articles_count", "model_cpu_seconds_total"):
        match = re.search(rf"^arabic_news_{name}(?:{{[^}}]*}})? ([0-9.e+-]+)$", text, re.MULTILINE)
        values[name] = float(match.group(1)) if match else 0.0
    return values["batch_articles_sum"], values["batch_articles_count"], values["model_cpu_seconds_total"]


def _mean_of(runs: list[dict]) -> dict:
    """Rounds combined: mean throughput, latency and CPU figures, worst p99, summed counts, each round's req/s."""
    def mean(key: str) -> float | None:
        values = [r[key] for r in runs if r.get(key) is not None]
        return round(sum(values) / len(values), 2) if values else None

    combined = {key: mean(key) for key in ("requests_per_s", "articles_per_s", "p50_ms", "server_cpu_ms_per_article",
                                           "articles_per_model_call", "server_cpu_ms_per_request",
                                           "model_cpu_ms_per_request", "outside_model_cpu_ms_per_request",
                                           "model_cpu_ms_per_request_in_server",
                                           "outside_model_cpu_ms_per_request_in_server")}
    combined.update({"p99_ms": max((r["p99_ms"] for r in runs if r["p99_ms"] is not None), default=None),
                     "requests": sum(r["requests"] for r in runs), "errors": sum(r["errors"] for r in runs),
                     "first_error": next((r["first_error"] for r in runs if r["first_error"]), None),
                     "rounds_requests_per_s": [r["requests_per_s"] for r in runs]})
    return combined


MODEL_CALL_SIZES = (1, 2, 4, 8, 16, 64)


def model_cpu_ms_per_article(path: Path, articles: list[dict], threads: int) -> dict[str, float]:
    """CPU ms per article of ``training.load(path).predict`` over ``articles``, in calls of each of
    ``MODEL_CALL_SIZES`` articles (with the scikit-learn checks the service skips also skipped), no HTTP."""
    import sklearn

    import training

    if threads:
        import torch

        torch.set_num_threads(threads)
    model = training.load(path)
    texts = [a["text"] for a in articles]
    titles = [a["title"] for a in articles]
    model.predict(texts[:8], titles[:8])
    costs = {}
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):  # as serving.service does
        for size in MODEL_CALL_SIZES:
            started = time.process_time()
            for i in range(0, len(texts), size):
                model.predict(texts[i:i + size], titles[i:i + size])
            costs[f"batch_{size}"] = round((time.process_time() - started) * 1000 / len(texts), 3)
    return costs


def outside_model_ms(result: dict, model_cost: dict[str, float], articles_per_request: int, call_size: float) -> dict:
    """The server's CPU per request, the model's share of it (its own cost per article in calls of
    ``call_size``, rounded down to a measured size), and the rest: what the server costs outside the model."""
    if not result.get("server_cpu_ms_per_article"):
        return {}
    size = max((s for s in MODEL_CALL_SIZES if s <= max(1.0, call_size)), default=1)
    server = result["server_cpu_ms_per_article"] * articles_per_request
    model = model_cost[f"batch_{size}"] * articles_per_request
    return {"server_cpu_ms_per_request": round(server, 3), "model_cpu_ms_per_request": round(model, 3),
            "model_call_size_used": size, "outside_model_cpu_ms_per_request": round(server - model, 3)}


def bench_model(kind: str, reference: str, args: argparse.Namespace, articles: list[dict], home: str) -> list[dict]:
    path = artefact_dir(reference)
    sent = articles[:min(len(articles), args.requests * args.articles)]  # the articles the measured load sends
    model_cost = model_cpu_ms_per_article(path, sent, args.torch_threads)
    print(f"[{kind}] model alone, CPU ms per article: {model_cost}", flush=True)
    tag = register(path, home, f"bench-{kind}")
    print(f"[{kind}] {path} -> {tag}", flush=True)
    bento_port, naive_port = free_port(), free_port()
    servers = {
        "anchor": Server(f"{kind}-naive", [PYTHON, str(REPO / "benchmarks" / "naive_server.py"), "--model", str(path),
                                            "--port", str(naive_port), "--torch-threads", str(args.torch_threads)],
                         {}, naive_port, home),
        "bentoml": Server(f"{kind}-bentoml", [PYTHON, "-m", "bentoml", "serve", SERVICE,
                                               "--host", "127.0.0.1", "--port", str(bento_port)],
                          dict(BENTOML_HOME=home, ARABIC_NEWS_MODEL_TAG=tag, ARABIC_NEWS_WORKERS=str(args.workers),
                               ARABIC_NEWS_TORCH_THREADS=str(args.torch_threads),
                               ARABIC_NEWS_ACCESS_LOG="1" if args.access_log else "0"), bento_port, home),
    }
    results = []
    try:
        for server in servers.values():
            server.wait_ready()
        for server in servers.values():  # warm-up, also lets BentoML's batcher fit its latency model
            run_load(server.url, articles, 6 * max(args.concurrency), max(args.concurrency), args.articles, 60)
        for concurrency in args.concurrency:
            rounds: dict[str, list[dict]] = {"anchor": [], "bentoml": []}
            for _ in range(args.rounds):
                for name, server in servers.items():
                    before = batch_stats(server.url) if name == "bentoml" else None
                    cpu = server.cpu_seconds()
                    result = run_load(server.url, articles, args.requests, concurrency, args.articles, args.time_limit)
                    done = result["ok"] * args.articles
                    result["server_cpu_ms_per_article"] = round((server.cpu_seconds() - cpu) * 1000 / done, 3) if done else None
                    call_size = float(args.articles)  # the anchor: one model call per request
                    if before is not None:
                        after = batch_stats(server.url)
                        calls = after[1] - before[1]
                        result["articles_per_model_call"] = round((after[0] - before[0]) / calls, 2) if calls else None
                        call_size = result["articles_per_model_call"] or call_size
                        if result["ok"]:  # the model's CPU measured inside the server, under the same load
                            in_server = (after[2] - before[2]) * 1000 / result["ok"]
                            result["model_cpu_ms_per_request_in_server"] = round(in_server, 3)
                            result["outside_model_cpu_ms_per_request_in_server"] = round(
                                result["server_cpu_ms_per_article"] * args.articles - in_server, 3)
                    result.update(outside_model_ms(result, model_cost, args.articles, call_size))
                    rounds[name].append(result)
                    print(f"[{kind}] c={concurrency} {name:8s} {json.dumps(result)}", flush=True)
            for name, runs in rounds.items():
                results.append({"model": kind, "tag": tag, "server": name, "concurrency": concurrency,
                                "articles_per_request": args.articles, "model_cpu_ms_per_article": model_cost,
                                **_mean_of(runs)})
    finally:
        for server in servers.values():
            server.stop()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default=os.environ.get("ARABIC_NEWS_MODEL_TAG", "arabic-news-topics"),
                        help="baseline artefact directory or store tag (default: the store's default model)")
    parser.add_argument("--transformer", help="compact transformer artefact directory or store tag (optional)")
    parser.add_argument("--requests", type=int, default=300, help="requests per measurement")
    parser.add_argument("--concurrency", default="1,8", help="comma-separated client concurrency levels")
    parser.add_argument("--articles", type=int, default=1, help="articles per request")
    parser.add_argument("--rounds", type=int, default=1, help="alternating anchor/service rounds per level")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per measurement (stops early)")
    parser.add_argument("--workers", type=int, default=1, help="service worker processes (ARABIC_NEWS_WORKERS)")
    parser.add_argument("--torch-threads", type=int, default=max(1, (os.cpu_count() or 1) - 1),
                        help="torch threads for both servers (transformer models); default: cores - 1")
    parser.add_argument("--access-log", action="store_true", help="keep the service's per-request access log on")
    parser.add_argument("--json-out", help="write all results to this JSON file")
    args = parser.parse_args(argv)
    args.concurrency = [int(c) for c in str(args.concurrency).split(",") if c.strip()]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the servers are stopped on the way out

    articles, source = load_articles()
    meta = {"cpus": os.cpu_count(), "load_average_start": os.getloadavg(), "articles_source": source,
            "requests": args.requests, "articles_per_request": args.articles, "time_limit_s": args.time_limit,
            "workers": args.workers, "torch_threads": args.torch_threads, "access_log": args.access_log}
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-bentoml-home-") as home:
        models = [("baseline", args.baseline)] + ([("transformer", args.transformer)] if args.transformer else [])
        for kind, reference in models:
            results += bench_model(kind, reference, args, articles, home)
    meta["load_average_end"] = os.getloadavg()

    print(f"\n{'model':<12}{'server':<9}{'conc':>5}{'req/s':>9}{'art/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'err':>5}"
          f"{'art/call':>9}{'cpu ms/art':>11}{'outside ms/req':>15}{'in-server':>10}{'speedup':>9}")
    anchors = {(r["model"], r["concurrency"]): r["requests_per_s"] for r in results if r["server"] == "anchor"}
    for r in results:
        speedup = r["requests_per_s"] / anchors[(r["model"], r["concurrency"])] if r["server"] == "bentoml" else 1.0
        r["speedup_vs_anchor"] = round(speedup, 2)
        print(f"{r['model']:<12}{r['server']:<9}{r['concurrency']:>5}{r['requests_per_s']:>9.1f}{r['articles_per_s']:>9.1f}"
              f"{r['p50_ms'] or 0:>9.1f}{r['p99_ms'] or 0:>9.1f}{r['errors']:>5}"
              f"{r.get('articles_per_model_call') or '':>9}{r['server_cpu_ms_per_article'] or 0:>11.2f}"
              f"{r.get('outside_model_cpu_ms_per_request') or 0:>15.2f}"
              f"{r.get('outside_model_cpu_ms_per_request_in_server') or 0:>10.2f}{speedup:>9.2f}")
    for r in results:
        if r["server"] == "anchor" and r["server_cpu_ms_per_article"]:
            bound = r["server_cpu_ms_per_article"] / r["model_cpu_ms_per_article"]["batch_64"]
            r["batching_bound"] = round(bound, 2)
            print(f"{r['model']} c={r['concurrency']}: the anchor spends {r['server_cpu_ms_per_article']:.1f} ms CPU per "
                  f"article, the model alone {r['model_cpu_ms_per_article']['batch_64']:.1f} ms in calls of 64: batching "
                  f"can gain at most {bound:.2f}x in CPU per article")
    print(f"\nload average {meta['load_average_start']} -> {meta['load_average_end']} on {meta['cpus']} CPUs "
          f"(shared machine: other processes compete for the same cores)")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"meta": meta, "results": results}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    from bench_baseline import run_benchmark  # the script's folder is on sys.path

    sys.exit(run_benchmark(main))
