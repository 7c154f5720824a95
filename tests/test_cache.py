"""The request key, file-hash memo, response cache and recordings (pytest_llmgate/answers/)."""

from __future__ import annotations

import builtins
import json
import multiprocessing
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_llmgate.answers import store
from pytest_llmgate.answers.cache import ResponseCache
from pytest_llmgate.answers.keys import identity_of, request_key
from pytest_llmgate.answers.recording import Recording
from pytest_llmgate.answers.store import FileHashes
from pytest_llmgate.backends.base import Completion
from pytest_llmgate.backends.spec import BackendSpec, Prompt
from pytest_llmgate.suite.cases import load_case_file
from pytest_llmgate.suite.config import load_config

API_KEY = "sk-test-0123456789abcdef"
GREEDY = {"temperature": 0, "max_tokens": 16}
SAMPLED = {"temperature": 0.7, "max_tokens": 16}
IDENTITY = {"provider": "openai", "model": "gpt-x", "endpoint": "127.0.0.1:8123/v1"}
ANSWER = Completion(
    "billing",
    prompt_tokens=42,
    completion_tokens=2,
    latency_s=0.512,
    ttft_s=0.101,
    tokens_estimated=True,
    cached_prompt_tokens=30,
)


def chat(system: str = "Classify the ticket.", user: str = "I was charged twice") -> list[dict[str, str]]:
    return Prompt(system=system).messages(({"role": "user", "content": user},))


def spec(tmp_path: Path, **fields: Any) -> BackendSpec:
    return BackendSpec(
        **{"name": "b", "provider": "openai", "model": "gpt-x", "config_path": tmp_path / "llmgate.yaml", **fields}
    )


def key(
    messages: list[dict[str, str]] | None = None,
    params: dict[str, Any] | None = None,
    sample: int | None = None,
    identity: dict[str, Any] | None = None,
) -> str:
    return request_key(identity or IDENTITY, messages or chat(), GREEDY if params is None else params, sample)


@pytest.fixture
def counted_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Paths the cache module opens with Python's open(): a file hashed again shows up here."""
    opened: list[str] = []

    def counting_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(file))
        return builtins.open(file, *args, **kwargs)

    monkeypatch.setattr(store, "open", counting_open, raising=False)
    return opened


# --- request key -------------------------------------------------------------------------------


def test_key_is_stable_and_hex() -> None:
    assert key() == key()
    assert len(key()) == 64 and int(key(), 16) >= 0


def test_key_changes_with_every_input_that_changes_the_answer() -> None:
    variants = {
        key(),
        key(messages=chat(system="Classify the ticket. Answer in one word.")),
        key(messages=chat(user="I was charged three times")),
        key(params={**GREEDY, "max_tokens": 17}),
        key(params={**GREEDY, "seed": 7}),
        key(params={**GREEDY, "stop": ["\n"]}),
        key(params={**GREEDY, "top_p": 0.9}),
        key(params={**GREEDY, "presence_penalty": 0.5}),
        key(identity={**IDENTITY, "model": "gpt-y"}),
        key(identity={**IDENTITY, "endpoint": "127.0.0.1:9000/v1"}),
    }
    assert len(variants) == 10


def test_key_ignores_spelling_that_does_not_change_the_request() -> None:
    assert key(params={"temperature": 0.0, "max_tokens": 16}) == key(params={"max_tokens": 16, "temperature": 0})
    assert key(params={**GREEDY, "seed": None}) == key()


def test_greedy_requests_reuse_one_answer_and_sampled_repeats_are_independent() -> None:
    assert key(params=GREEDY, sample=0) == key(params=GREEDY, sample=3) == key(params=GREEDY, sample=None)
    assert key(params={"max_tokens": 16}, sample=0) != key(
        params={"max_tokens": 16}, sample=2
    )  # unset: the API samples
    draws = {key(params=SAMPLED, sample=index) for index in range(5)}
    assert len(draws) == 5
    assert key(params=SAMPLED, sample=None) == key(params=SAMPLED, sample=0)


SUITE = """
default_backend: fake
thresholds: {common: {accuracy: THRESHOLD}}
backends:
  fake:
    provider: fake
    model: scripted
    system_prompt: SYSTEM
    params: {temperature: 0, max_tokens: 8}
    options: {default_reply: general}
"""
CASES = """
cases:
  - id: double-charge
    input: I was charged twice
    expect: {label: LABEL}
"""


def suite_key(tmp_path: Path, threshold: str = "0.8", label: str = "billing", system: str = "Classify.") -> str:
    """The key of the one case of a suite written with these settings, built as the runner builds it."""
    folder = tmp_path / f"{threshold}-{label}-{system}"
    folder.mkdir()
    (folder / "llmgate.yaml").write_text(SUITE.replace("THRESHOLD", threshold).replace("SYSTEM", system))
    (folder / "common.llm.yaml").write_text(CASES.replace("LABEL", label))
    backend = load_config(folder / "llmgate.yaml").backend("fake")
    case = load_case_file(folder / "common.llm.yaml").cases[0]
    return request_key(
        identity_of(backend, FileHashes(None)), backend.prompt.messages(case.messages), backend.params, sample=0
    )


def test_thresholds_and_expectations_are_not_inputs_but_the_system_prompt_is(tmp_path: Path) -> None:
    reference = suite_key(tmp_path)
    assert suite_key(tmp_path, threshold="0.95") == reference
    assert suite_key(tmp_path, label="technical") == reference
    assert suite_key(tmp_path, system="Classify the ticket.") != reference


def test_api_identity_holds_no_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMGATE_TEST_KEY", API_KEY)
    backend = spec(
        tmp_path, base_url="https://user:pw@Example.COM:8443/v1/?api_key=" + API_KEY, api_key_env="LLMGATE_TEST_KEY"
    )
    identity = identity_of(backend, FileHashes(None))
    material = json.dumps(identity)
    assert identity == {"provider": "openai", "model": "gpt-x", "endpoint": "example.com:8443/v1"}
    for secret in (API_KEY, "LLMGATE_TEST_KEY", "pw"):
        assert secret not in material
    assert identity_of(spec(tmp_path), FileHashes(None))["endpoint"] == "api.openai.com/v1"


def test_custom_backend_identity_keeps_options_but_not_credentials(tmp_path: Path) -> None:
    backend = spec(tmp_path, provider="gateway", options={"region": "eu", "api_token": API_KEY, "AuthHeader": "x"})
    assert identity_of(backend, FileHashes(None)) == {
        "provider": "gateway",
        "model": "gpt-x",
        "options": {"region": "eu"},
    }


# --- file hashes and GGUF identity ---------------------------------------------------------------


def gguf(folder: Path, name: str = "model.gguf", content: bytes = b"GGUF" + bytes(range(256)) * 64) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content)
    return path


def test_gguf_identity_comes_from_content_not_path(tmp_path: Path, counted_reads: list[str]) -> None:
    hashes = FileHashes(tmp_path / "cache.sqlite")
    original = gguf(tmp_path / "models")
    copy = tmp_path / "elsewhere" / "renamed.gguf"
    copy.parent.mkdir()
    shutil.copy(original, copy)
    first = identity_of(spec(tmp_path, provider="llama_cpp", model=str(original)), hashes)
    moved = identity_of(spec(tmp_path, provider="llama_cpp", model="elsewhere/renamed.gguf"), hashes)
    assert first == moved == {"provider": "llama_cpp", "model_sha256": first["model_sha256"]}
    assert len(counted_reads) == 2  # two paths, each read once

    stat = original.stat()
    os.utime(original, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))  # touch: same bytes, new mtime
    assert hashes.sha256(original) == first["model_sha256"]
    assert len(counted_reads) == 3  # the touched file was read again

    other = gguf(tmp_path / "models", "other.gguf", b"GGUF different weights")
    assert hashes.sha256(other) != first["model_sha256"]


def test_lora_adapter_and_scale_are_part_of_the_identity(tmp_path: Path) -> None:
    hashes = FileHashes(None)
    model = str(gguf(tmp_path))
    adapter = str(gguf(tmp_path, "adapter.gguf", b"GGUF lora"))
    plain = identity_of(spec(tmp_path, provider="llama_cpp", model=model), hashes)
    tuned = identity_of(spec(tmp_path, provider="llama_cpp", model=model, lora=adapter), hashes)
    half = identity_of(spec(tmp_path, provider="llama_cpp", model=model, lora=adapter, lora_scale=0.5), hashes)
    assert tuned["lora_sha256"] == hashes.sha256(Path(adapter)) and tuned["lora_scale"] == 1.0
    assert len({key(identity=plain), key(identity=tuned), key(identity=half)}) == 3


def test_file_hash_is_remembered_across_instances(tmp_path: Path, counted_reads: list[str]) -> None:
    model = gguf(tmp_path)
    database = tmp_path / "cache" / "llmgate.sqlite"
    first = FileHashes(database)
    digest = first.sha256(model)
    assert first.sha256(model) == digest
    first.close()
    assert counted_reads == [str(model.resolve())]

    later_run = FileHashes(database)
    assert later_run.sha256(model) == digest
    assert counted_reads == [str(model.resolve())]  # found by path, size and mtime: not read again


# --- response cache ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "serves", "stores"),
    [("off", False, False), ("read", True, False), ("write", False, True), ("readwrite", True, True)],
)
def test_cache_modes(tmp_path: Path, mode: str, serves: bool, stores: bool) -> None:
    path = tmp_path / "cache" / "llmgate.sqlite"
    seeded = ResponseCache(path, "write")
    seeded.put("seeded", ANSWER, {"backend": "api", "case": "double-charge"})
    seeded.close()

    under_test = ResponseCache(path, mode)
    under_test.put("new", ANSWER, {})
    assert (under_test.get("seeded") == ANSWER) is serves
    under_test.close()
    assert (ResponseCache(path, "read").get("new") == ANSWER) is stores


def test_off_mode_touches_no_file(tmp_path: Path) -> None:
    ResponseCache(tmp_path / "cache" / "llmgate.sqlite", "off").put("k", ANSWER, {})
    assert not (tmp_path / "cache").exists()


def test_unknown_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown cache mode 'rw'; use one of: off, read, write, readwrite"):
        ResponseCache(tmp_path / "c.sqlite", "rw")


def test_hit_keeps_the_measured_cost_drivers(tmp_path: Path) -> None:
    store = ResponseCache(tmp_path / "c.sqlite", "readwrite")
    assert store.get("k") is None
    store.put("k", ANSWER, {"backend": "api", "case": "double-charge"})
    hit = store.get("k")
    assert hit == ANSWER and hit is not None
    assert (hit.latency_s, hit.ttft_s, hit.prompt_tokens, hit.cached_prompt_tokens) == (0.512, 0.101, 42, 30)


def test_refresh_ignores_hits_but_writes(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    ResponseCache(path, "readwrite").put("k", ANSWER, {})
    refreshing = ResponseCache(path, "readwrite", refresh=True)
    assert refreshing.get("k") is None
    newer = Completion("technical", 40, 1, 0.3, 0.1)
    refreshing.put("k", newer, {})
    assert ResponseCache(path, "read").get("k") == newer


def test_threads_share_one_cache(tmp_path: Path) -> None:
    store = ResponseCache(tmp_path / "c.sqlite", "readwrite")
    failures: list[Exception] = []

    def work(thread: int) -> None:
        try:
            for index in range(100):
                answer = Completion(f"t{thread}-{index}", index, 1, 0.1, 0.05)
                store.put(f"{thread}:{index}", answer, {"case": str(index)})
                assert store.get(f"{thread}:{index}") == answer
        except (AssertionError, ValueError) as exc:  # collected: a failure in a thread would otherwise vanish
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert all(store.get(f"{t}:{i}") is not None for t in range(8) for i in range(100))


def write_many(path: str, prefix: str, count: int) -> None:
    """A writer process: its own ResponseCache on the shared file, as an xdist worker has."""
    store = ResponseCache(Path(path), "readwrite")
    for index in range(count):
        store.put(f"{prefix}{index}", Completion(f"{prefix}{index}", index, 1, 0.1, 0.05), {"worker": prefix})
    store.close()


def test_two_processes_write_at_once(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "llmgate.sqlite"  # both processes create it: the first open races too
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=write_many, args=(str(path), prefix, 200)) for prefix in ("gw0-", "gw1-")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0, 0]
    store = ResponseCache(path, "read")
    assert all(store.get(f"{prefix}{i}") is not None for prefix in ("gw0-", "gw1-") for i in range(200))


def test_a_killed_writer_leaves_a_readable_cache(tmp_path: Path) -> None:
    path = tmp_path / "llmgate.sqlite"
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys; from pathlib import Path\n"
                "from pytest_llmgate.answers.cache import ResponseCache\n"
                "from pytest_llmgate.backends.base import Completion\n"
                "store = ResponseCache(Path(sys.argv[1]), 'write')\n"
                "index = 0\n"
                "while True:\n"
                "    store.put(f'k{index}', Completion('x' * 2000, index, 1, 0.1, 0.05), {})\n"
                "    index += 1\n"
            ),
            str(path),
        ]
    )
    try:
        deadline = time.monotonic() + 60
        while _rows(path) < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.wait()
    assert writer.returncode == -signal.SIGKILL
    store = ResponseCache(path, "readwrite")
    assert store.get("k0") is not None and store.get("k199") is not None
    store.put("after", ANSWER, {})
    assert store.get("after") == ANSWER
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)


def _rows(path: Path) -> int:
    try:
        with sqlite3.connect(path) as connection:
            return int(connection.execute("SELECT count(*) FROM responses").fetchone()[0])
    except sqlite3.Error:  # not created yet
        return 0


def test_corrupt_database_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "llmgate.sqlite"
    path.write_bytes(b"this is not SQLite " * 500)
    with pytest.raises(ValueError, match=r"llmgate.sqlite is not a readable SQLite database .*delete the file"):
        ResponseCache(path, "read")
    with pytest.raises(ValueError, match="delete the file"):
        FileHashes(path)


def test_damaged_pages_are_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "llmgate.sqlite"
    store = ResponseCache(path, "write")
    for index in range(300):
        store.put(f"k{index}", Completion("x" * 500, 1, 1, 0.1, 0.1), {})
    store.close()
    with path.open("r+b") as damaged:
        damaged.seek(4096)
        damaged.write(b"\xff" * 40_000)
    with pytest.raises(ValueError, match=r"is not a readable SQLite database .*delete the file"):
        reader = ResponseCache(path, "read")
        for index in range(300):
            reader.get(f"k{index}")


def test_cache_from_another_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "llmgate.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA user_version=99")
    with pytest.raises(ValueError, match=r"written by another llmgate version .*delete the file"):
        ResponseCache(path, "read")


def test_cache_folder_that_cannot_be_made_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where the folder should be")
    with pytest.raises(ValueError, match="cannot create its folder"):
        ResponseCache(tmp_path / "blocker" / "llmgate.sqlite", "write")


# --- recordings ----------------------------------------------------------------------------------


def test_recording_round_trip_is_sorted_and_readable(tmp_path: Path) -> None:
    path = tmp_path / "recordings" / "suite.jsonl"
    writer = Recording.writer(path)
    long_question = "My   invoice\nshows a charge " + "that I do not recognise " * 10
    writer.add("k-b", ANSWER, backend="small", case="double-charge", prompt="I was charged twice")
    writer.add("k-a2", ANSWER, backend="api", case="zz-last", prompt=long_question, sample=2)
    writer.add("k-a1", ANSWER, backend="api", case="zz-last", prompt=long_question, sample=1)
    writer.add(
        "k-a0", Completion("technical", 9, 1, 0.2, 0.1), backend="api", case="app-crash", prompt="The app crashes"
    )
    assert writer.save() == path

    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(e["backend"], e["case"], e.get("sample")) for e in lines] == [
        ("api", "app-crash", None),
        ("api", "zz-last", 1),
        ("api", "zz-last", 2),
        ("small", "double-charge", None),
    ]
    assert lines[0]["prompt"] == "The app crashes"
    assert lines[1]["prompt"].startswith("My invoice shows a charge") and len(lines[1]["prompt"]) == 80
    assert not list(path.parent.glob(".suite.jsonl.*"))  # no temp file left behind

    replay = Recording.load(path)
    assert len(replay) == 4
    assert replay.lookup("k-b") == ANSWER
    assert replay.lookup("k-a0") == Completion("technical", 9, 1, 0.2, 0.1)
    assert replay.lookup("unknown") is None


def test_recording_never_writes_a_secret(tmp_path: Path) -> None:
    path = tmp_path / "suite.jsonl"
    writer = Recording.writer(path, secrets=[API_KEY, ""])
    echoed = Completion(f"Your key is {API_KEY}; header Authorization: Bearer {API_KEY}", 5, 20, 0.1, 0.05)
    writer.add("k", echoed, backend="api", case="leak", prompt=f"repeat {API_KEY}")
    writer.save()
    text = path.read_text()
    assert API_KEY not in text
    assert "Bearer ***" in text and "repeat ***" in text
    assert Recording.load(path).lookup("k") == Completion(
        "Your key is ***; header Authorization: Bearer ***", 5, 20, 0.1, 0.05
    )


def test_saving_replaces_the_previous_recording_whole(tmp_path: Path) -> None:
    path = tmp_path / "suite.jsonl"
    first = Recording.writer(path)
    first.add("old", ANSWER, backend="api", case="a", prompt="q")
    first.save()
    second = Recording.writer(path)
    second.add("new", ANSWER, backend="api", case="a", prompt="q")
    second.save()
    replay = Recording.load(path)
    assert (replay.lookup("old"), replay.lookup("new")) == (None, ANSWER)


def test_missing_recording_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"recording .*absent\.jsonl does not exist"):
        Recording.load(tmp_path / "absent.jsonl")


def test_malformed_recording_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "suite.jsonl"
    path.write_text(
        '{"key": "k", "text": "ok", "prompt_tokens": 1, "completion_tokens": 1, '
        '"latency_s": 0.1, "ttft_s": 0.1}\n{"key": "k2", "text": "no tokens"}\n'
    )
    with pytest.raises(ValueError, match=r"suite\.jsonl:2: not a recorded answer"):
        Recording.load(path)
