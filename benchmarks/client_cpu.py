"""Client CPU per call: the openai backend's complete() against a bare HTTP loop (the floor: the SDK's
httpx client posting the same body and splitting the same events), N sequential calls each, the local
server in a process of its own so that only the client's CPU is counted.

Usage: python benchmarks/client_cpu.py [N]    (default 300)
Prints CPU and wall milliseconds per call, streamed and whole, and the ratio backend / floor. Under
the GIL this CPU is what bounds many concurrent calls: 2,000 calls at 1 ms are 2 s of one core.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from harness import ROOT

sys.path.insert(0, str(ROOT))
from pytest_llmgate.backends.openai import OpenAIBackend
from pytest_llmgate.backends.spec import BackendSpec

MESSAGES = [{"role": "user", "content": "ticket 1: please route me"}]
PARAMS = {"temperature": 0, "max_tokens": 8}
SERVER = f"""
import sys, time
sys.path.insert(0, {str(ROOT / "tests")!r})
from faultserver import FaultServer
with FaultServer() as server:
    print(server.url, flush=True)
    sys.stdin.read()
"""


def per_call_ms(call: Callable[[], object], count: int) -> tuple[float, float]:
    """(CPU, wall) milliseconds per call of ``call``, after one warm-up call."""
    call()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(count):
        call()
    return (time.process_time() - cpu) / count * 1000, (time.perf_counter() - wall) / count * 1000


def floor_call(url: str, stream: bool) -> Callable[[], object]:
    """The same request with the SDK's httpx client alone: post the body, read (and split) the answer."""
    import openai

    http = openai.DefaultHttpxClient()
    body = {"model": "m", "messages": MESSAGES, **PARAMS}
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})

    def call() -> object:
        with http.stream("POST", f"{url}/chat/completions", json=body, timeout=30) as response:
            if not stream:
                return json.loads(response.read())
            return [json.loads(line[5:]) for line in response.iter_lines() if line.startswith("data: {")]

    return call


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        print(f"{count} sequential calls per row, local server in its own process")
        for stream in (True, False):
            spec = BackendSpec(
                name="api",
                provider="openai",
                model="m",
                config_path=Path("x"),
                base_url=url,
                params=PARAMS,
                stream=stream,
            )
            backend = OpenAIBackend(spec)
            ours = per_call_ms(lambda b=backend: b.complete(MESSAGES), count)
            floor = per_call_ms(floor_call(url, stream), count)
            label = "streamed" if stream else "whole   "
            print(
                f"  {label}: backend {ours[0]:5.2f} ms CPU ({ours[1]:5.2f} ms wall), bare httpx {floor[0]:5.2f} ms CPU"
                f" ({floor[1]:5.2f} ms wall); ratio backend / floor {ours[0] / floor[0]:4.2f}"
            )
            backend.close()
    finally:
        server.communicate("")


if __name__ == "__main__":
    main()
