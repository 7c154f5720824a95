"""provider: http: an application served on 127.0.0.1 by the test, asked with a body template, read by JSON pointer."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

TOKEN = "s3cr3t-app-token-4711"


class App:
    """A support app: routes the ticket in 'q', answers at /result/answer with usage at /usage; 'FAIL500' in a
    ticket answers HTTP 500, 'ECHO' echoes the Authorization header into the answer."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                app.requests.append({"body": body, "authorization": self.headers.get("Authorization")})
                question = body["q"]
                if "FAIL500" in question:
                    self._send(500, {"error": "database down"})
                    return
                label = "billing" if "charge" in question else "general"
                if "ECHO" in question:
                    label = f"billing {self.headers.get('Authorization')}"
                self._send(200, {"result": {"answer": label}, "usage": {"in": len(body["chat"]), "out": 1}})

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/support"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> App:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def app() -> Iterator[App]:
    with App() as running:
        yield running


CONFIG = """
default_backend: web
thresholds:
  common: {accuracy: 0.5}
backends:
  web:
    provider: http
    url: %s
    body: {q: "Ticket: {{input}}", chat: "{{messages}}", meta: {source: llmgate}}
    response: {text: /result/answer, prompt_tokens: /usage/in, completion_tokens: /usage/out}
    headers: {Authorization: "Bearer ${APP_TOKEN}", X-Team: support}
    max_retries: 2
    timeout_s: 5
    system_prompt: "Route it."
"""
CASES = """
cases:
  - {id: charge, input: 'I was "charged" twice\\n{braces}', expect: {label: billing}}
  - {id: hours, input: When are you open?, expect: {label: general}}
"""


def run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, list[dict[str, Any]]]:
    result = pytester.runpytest_subprocess(
        "--llm-report-json=r.json", "--llm-report-md=r.md", "--llm-cache-dir=cache", "-p", "no:randomly", *args
    )
    report = pytester.path / "r.json"
    return result, json.loads(report.read_text())["cases"] if report.exists() else []


def written(folder: Path) -> str:
    """Every file the run left, as text, to look for a secret in."""
    return "".join(path.read_bytes().decode("utf-8", "replace") for path in folder.rglob("*") if path.is_file())


def test_an_http_app_is_asked_with_the_template_and_read_by_pointer(
    pytester: pytest.Pytester, app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_TOKEN", TOKEN)
    pytester.makefile(".yaml", llmgate=CONFIG % app.url)
    pytester.makefile(".llm.yaml", common=CASES)
    result, rows = run(pytester)
    result.assert_outcomes(passed=2)
    first = app.requests[0]
    assert first["authorization"] == f"Bearer {TOKEN}"
    asked = {request["body"]["q"] for request in app.requests}
    assert asked == {'Ticket: I was "charged" twice\\n{braces}', "Ticket: When are you open?"}  # JSON-safe
    assert first["body"]["chat"][0] == {"role": "system", "content": "Route it."}
    assert first["body"]["meta"] == {"source": "llmgate"}
    by_id = {row["id"]: row for row in rows}
    assert by_id["charge"]["output"] == "billing" and by_id["charge"]["prompt_tokens"] == 2
    assert not by_id["charge"]["tokens_estimated"] and by_id["charge"]["latency_ms"] > 0
    again, rows = run(pytester)
    again.assert_outcomes(passed=2)
    assert all(row["cached"] for row in rows) and len(app.requests) == 2


def test_the_header_secret_is_redacted_from_output_reports_and_cache(
    pytester: pytest.Pytester, app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_TOKEN", TOKEN)
    pytester.makefile(".yaml", llmgate=CONFIG % app.url)
    pytester.makefile(".llm.yaml", common="cases:\n  - {id: echo, input: ECHO charge, expect: {label: general}}\n")
    result, rows = run(pytester, "--llm-record=rec.json", "-rA")
    assert rows[0]["output"] == "billing Bearer ***"
    assert TOKEN in app.requests[0]["authorization"]
    assert TOKEN not in result.stdout.str() + result.stderr.str()
    assert TOKEN not in written(pytester.path)


def test_a_500_is_an_error_of_the_case_after_retries_never_a_miss(
    pytester: pytest.Pytester, app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_TOKEN", TOKEN)
    pytester.makefile(".yaml", llmgate=CONFIG % app.url)
    pytester.makefile(".llm.yaml", common=CASES + "  - {id: down, input: FAIL500 charge, expect: {label: billing}}\n")
    result, rows = run(pytester)
    result.assert_outcomes(passed=2, errors=1)
    down = next(row for row in rows if row["id"] == "down")
    assert down["status"] == "error" and down["passed"] is None
    assert "HTTP 500" in down["error"] and "database down" in down["error"]
    assert sum("FAIL500" in request["body"]["q"] for request in app.requests) == 3  # 1 + max_retries


def test_an_unset_header_variable_and_a_bad_pointer_are_config_errors(
    pytester: pytest.Pytester, app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("APP_TOKEN", raising=False)
    pytester.makefile(".yaml", llmgate=CONFIG % app.url)
    pytester.makefile(".llm.yaml", common=CASES)
    result, _ = run(pytester)
    assert result.ret == 4 and "APP_TOKEN" in result.stderr.str() and "Traceback" not in result.stderr.str()
    monkeypatch.setenv("APP_TOKEN", TOKEN)
    (pytester.path / "llmgate.yaml").write_text((CONFIG % app.url).replace("text: /result/answer", "text: result"))
    result, _ = run(pytester)
    assert result.ret == 4
    assert "llmgate.yaml:10: backend 'web': 'response' must be a JSON pointer" in result.stderr.str()


def test_a_missing_answer_path_is_a_malformed_error(
    pytester: pytest.Pytester, app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_TOKEN", TOKEN)
    pytester.makefile(".yaml", llmgate=(CONFIG % app.url).replace("/result/answer", "/result/text"))
    pytester.makefile(".llm.yaml", common=CASES)
    result, rows = run(pytester)
    result.assert_outcomes(errors=2)
    assert "the answer has nothing at '/result/text' (no 'text')" in rows[0]["error"]
