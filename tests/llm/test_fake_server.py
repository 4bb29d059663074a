"""The fake OpenAI server itself: recording, default answers and concurrent delayed answers."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import openai
from openai.types.chat import ChatCompletionMessageParam

from tests.fakes.openai_server import FakeOpenAIServer, answer


def test_records_requests_and_answers_with_the_default() -> None:
    with FakeOpenAIServer(default_content="pong") as server:
        client = openai.OpenAI(api_key="k", base_url=server.base_url, max_retries=0)

        completion = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "ping ping"}]
        )

        assert completion.choices[0].message.content == "pong"
        assert completion.usage is not None and completion.usage.prompt_tokens == 2
        (recorded,) = server.requests
        assert (recorded.method, recorded.path) == ("POST", "/v1/chat/completions")
        assert recorded.json["model"] == "m"


def test_plan_is_used_in_order_then_the_default() -> None:
    with FakeOpenAIServer(default_content="default") as server:
        server.plan(answer("first"), answer("second"))
        client = openai.OpenAI(api_key="k", base_url=server.base_url, max_retries=0)
        messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "x"}]

        texts = [
            client.chat.completions.create(model="m", messages=messages).choices[0].message.content
            for _ in range(3)
        ]

        assert texts == ["first", "second", "default"]


def test_delayed_answers_are_served_concurrently() -> None:
    with FakeOpenAIServer(delay_ms=300) as server:
        client = openai.OpenAI(api_key="k", base_url=server.base_url, max_retries=0)

        def call(_: int) -> str | None:
            completion = client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}]
            )
            return completion.choices[0].message.content

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(call, range(8)))
        elapsed = time.perf_counter() - started

        assert results == [server.default_content] * 8
        assert 0.3 <= elapsed < 1.5  # eight 300 ms answers overlapped, not 2.4 s in a row
