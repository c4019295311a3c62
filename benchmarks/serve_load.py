"""Load test of ``trm serve`` on loopback: C concurrent clients for D seconds, then it stops by itself.

    python benchmarks/serve_load.py runs/demo --clients 50 --seconds 30 --json out.json
    python benchmarks/serve_load.py sudoku6 --api-key --rate-limit 50/s --burst 100   # access control in force

Starts ``trm serve MODEL`` on 127.0.0.1 (a free port) in a subprocess, waits for /healthz, then every client
loops: POST /v1/solve with one of 200 generated puzzles, until the deadline. Reports requests, errors,
throughput and p50/p99 latency, and stops the server. Bounded: at most 200 clients and 300 seconds; only
127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _load(base: str, puzzles: list, clients: int, seconds: float, body: dict, headers: dict) -> dict:
    import httpx

    latencies: list[float] = []
    errors: dict[str, int] = {}
    deadline = time.monotonic() + seconds

    async def client(i: int, http: httpx.AsyncClient) -> None:
        k = i
        while time.monotonic() < deadline:
            t = time.perf_counter()
            try:
                r = await http.post("/v1/solve", json={"puzzle": puzzles[k % len(puzzles)], **body})
                if r.status_code == 200:
                    latencies.append(time.perf_counter() - t)
                else:
                    errors[str(r.status_code)] = errors.get(str(r.status_code), 0) + 1
            except httpx.HTTPError as e:
                errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
            k += clients

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=60.0, limits=limits, headers=headers) as http:
        t0 = time.monotonic()
        await asyncio.gather(*(client(i, http) for i in range(clients)))
        elapsed = time.monotonic() - t0
        health = await http.get("/healthz")
        if health.status_code == 429:  # the clients spent this address's tokens: wait for one
            await asyncio.sleep(float(health.headers.get("retry-after", "1")))
            health = await http.get("/healthz")
        health = health.json()
    latencies.sort()
    pct = lambda q: 1e3 * latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else None  # noqa: E731
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "ok": len(latencies),
        "errors": errors,
        "throughput_rps": round(len(latencies) / elapsed, 1),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "server": health,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="model folder, run directory or ONNX export folder")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--mode", default="official", choices=["official", "adaptive"])
    ap.add_argument("--threads", type=int, default=1, help="model threads in the server")
    ap.add_argument("--json", default=None)
    ap.add_argument(
        "--api-key", action="store_true", help="serve with a random API key that the clients send"
    )
    ap.add_argument("--rate-limit", default="0", help="the server's --rate-limit (default 0: off)")
    ap.add_argument("--burst", default="100", help="the server's --burst")
    args = ap.parse_args(argv)
    if not 1 <= args.clients <= 200 or not 0 < args.seconds <= 300:
        sys.exit("bounded load test: 1..200 clients, at most 300 seconds")

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    key = secrets.token_urlsafe(32) if args.api_key else None
    if key:
        env["TRM_API_KEY"] = key  # not on the command line, where ps would show it
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trm",
            "serve",
            args.model,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--threads",
            str(args.threads),
            "--log-level",
            "warning",
            "--rate-limit",
            args.rate_limit,
            "--burst",
            args.burst,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        import httpx

        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                sys.exit(f"server exited: {server.stdout.read()}")
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:  # open without the key
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                sys.exit("server did not come up in 120 s")
            time.sleep(0.3)
        if key:
            assert httpx.get(base + "/v1/model").status_code == 401, "the server answers without the key"
        model = httpx.get(base + "/v1/model", headers=headers).json()
        puzzles = []
        for s in range(200):  # paced under the rate limit
            r = httpx.get(base + f"/v1/example?seed={s}", headers=headers)
            while r.status_code == 429:
                time.sleep(float(r.headers.get("retry-after", "1")))
                r = httpx.get(base + f"/v1/example?seed={s}", headers=headers)
            puzzles.append(r.json()["puzzle"])
        res = asyncio.run(_load(base, puzzles, args.clients, args.seconds, {"mode": args.mode}, headers))
        res.update(
            {
                "model": str(args.model),
                "preset": model["preset"],
                "backend": model["backend"],
                "mode": args.mode,
                "server_threads": args.threads,
                "api_key": bool(key),
                "rate_limit": args.rate_limit,
                "burst": args.burst,
                "server_5xx": sum(n for code, n in res["errors"].items() if code.startswith("5")),
                "rate_limited_429": res["errors"].get("429", 0),
            }
        )
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
    print(json.dumps(res, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    return 0 if not set(res["errors"]) - {"429"} else 1  # 429s are the rate limit doing its work


if __name__ == "__main__":
    sys.exit(main())
