"""Bounded loopback soak of the real service: N requests at concurrency C, valid and invalid bodies mixed.

    .venv/bin/python benchmarks/soak_service.py [--requests 2000] [--concurrency 32] [--artifact DIR] [--out r.json]

Starts ``bentoml serve serving.service:ArabicNewsTopics`` on a free loopback port with a temporary BENTOML_HOME
(the artefact is registered there; default: a baseline trained now on the built-in sample corpus), fires the
requests with httpx's async client, and reports: status counts, 5xx, connection errors, requests/s, latency
p50/p99, and the RSS (VmRSS) of every server process before, after and at every tenth of the run (so growth that
levels off can be told apart from a leak). Exit 1 on any 5xx or connection error.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ["BENTOML_HOME"] = os.environ.get("SOAK_BENTOML_HOME") or tempfile.mkdtemp(prefix="soak-bentoml-home-")
os.environ["BENTOML_DO_NOT_TRACK"] = "true"
os.environ["HF_HUB_OFFLINE"] = "1"
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import httpx  # noqa: E402
from server_process import ServerStartError, free_port, start_bentoml, stop, wait_ready  # noqa: E402  (tests/)
from test_service import ARABIC, SPORT  # noqa: E402  (the tests' example articles)

VALID = [
    {"texts": [ARABIC]},
    {"texts": [SPORT], "titles": ["مباراة ودية"]},
    {"texts": [ARABIC, SPORT, ARABIC * 20], "titles": [None, "رياضة", ""]},
    {"texts": [SPORT * 50]},
]
INVALID = [
    b'{"texts": []}', b'{"texts": ["   "]}', b'{"texts": "x"}', b'{"texts": ["a"], "titles": ["a", "b"]}',
    b'{"texts": [', b'\xff\xfe', b'{"texts": ["\\ud800"]}', json.dumps({"texts": ["x"] * 65}).encode(),
    b'null', b'{"text": ["x"]}',
]


def rss_kib(pid: int) -> dict[int, int]:
    """VmRSS of ``pid`` and all its descendants (the bentoml supervisor, its workers)."""
    found, frontier = {}, [pid]
    while frontier:
        current = frontier.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    found[current] = int(line.split()[1])
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        frontier += [int(c) for c in children]
    return found


def total_rss_mib(pid: int) -> float:
    return round(sum(rss_kib(pid).values()) / 1024, 1)


async def fire(url: str, total: int, concurrency: int, invalid_share: float, seed: int, server_pid: int | None = None) -> dict:
    rng = random.Random(seed)
    plan = [("invalid", rng.choice(INVALID)) if rng.random() < invalid_share else ("valid", json.dumps(rng.choice(VALID), ensure_ascii=False).encode())
            for _ in range(total)]
    statuses: dict[str, int] = {}
    latencies: list[float] = []
    errors: list[str] = []
    wrong: list[str] = []
    rss_series: list[tuple[int, float]] = []  # (requests done, MiB of all server processes)
    milestone = max(1, total // 10)
    queue = iter(enumerate(plan))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        async def worker() -> None:
            for index, (kind, body) in queue:
                started = time.perf_counter()
                try:
                    response = await client.post("/classify", content=body, headers={"content-type": "application/json"})
                except httpx.HTTPError as exc:
                    errors.append(f"request {index} ({kind}) after {time.perf_counter() - started:.2f} s: "
                                  f"{type(exc).__name__}: {exc!r}")
                    continue
                latencies.append(time.perf_counter() - started)
                done = len(latencies) + len(errors)
                if server_pid is not None and done % milestone == 0:
                    rss_series.append((done, total_rss_mib(server_pid)))
                statuses[str(response.status_code)] = statuses.get(str(response.status_code), 0) + 1
                if (kind == "valid") != (response.status_code == 200):
                    wrong.append(f"{kind} -> {response.status_code}: {response.text[:200]}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return round(1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))], 1) if latencies else float("nan")

    return {"requests": total, "concurrency": concurrency, "seconds": round(elapsed, 1), "requests_per_s": round(total / elapsed, 1),
            "statuses": statuses, "server_errors_5xx": sum(v for k, v in statuses.items() if k.startswith("5")),
            "connection_errors": len(errors), "error_samples": errors[:5], "unexpected_status": len(wrong),
            "unexpected_samples": wrong[:5], "rss_mib_by_requests_done": rss_series, "latency_ms": {"p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99), "max": pct(1.0)}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--invalid-share", type=float, default=0.3)
    parser.add_argument("--artifact", default=None, help="artefact to serve (default: train a baseline on the sample corpus)")
    parser.add_argument("--warmup", type=int, default=200, help="requests before the first RSS reading")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    from training.registry import register

    work = Path(tempfile.mkdtemp(prefix="soak-"))
    artifact = args.artifact
    if artifact is None:
        from training.config import TrainConfig
        from training.train import run

        config = TrainConfig(out=str(work / "run"), models=["baseline"])
        config.baseline.c_values, config.baseline.classifiers = [4.0], ["logreg"]
        artifact = run(config)["best_artifact"]
    tag = register(artifact, f"soak-{uuid.uuid4().hex[:8]}")["tag"]
    port, log = free_port(), work / "server.log"
    proc = start_bentoml(port, log, ARABIC_NEWS_MODEL_TAG=tag, ARABIC_NEWS_ACCESS_LOG="0")
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_ready(url, proc, log)
        except ServerStartError as exc:
            print(exc, file=sys.stderr)
            return 2
        asyncio.run(fire(url, args.warmup, min(args.concurrency, 8), args.invalid_share, args.seed + 1))
        before = rss_kib(proc.pid)
        load_before = os.getloadavg()
        result = asyncio.run(fire(url, args.requests, args.concurrency, args.invalid_share, args.seed, proc.pid))
        after = rss_kib(proc.pid)
        result.update({"model_tag": tag, "artifact": str(artifact), "load_before": load_before, "load_after": os.getloadavg(),
                       "rss_kib_before": before, "rss_kib_after": after,
                       "rss_growth_kib": {pid: after[pid] - before[pid] for pid in before if pid in after},
                       "server_alive": proc.poll() is None and httpx.get(url + "/livez", timeout=5).status_code == 200})
    finally:
        stop(proc)
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return 0 if result["server_errors_5xx"] == 0 and result["connection_errors"] == 0 else 1


if __name__ == "__main__":
    from bench_baseline import run_benchmark  # the script's folder is on sys.path

    sys.exit(run_benchmark(main))
