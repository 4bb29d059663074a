"""OpenAIProvider against a local OpenAI-protocol server, through the real `openai` client."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from engine.llm.base import LLMError, LLMRequest
from engine.llm.openai_provider import OpenAIProvider
from engine.llm.structured import build_json_schema, parse_answer
from engine.model import JsonOutputField
from tests.fakes.openai_server import FakeOpenAIServer, Planned, answer, error

API_KEY = "sk-test-SECRET-1234567890abcdef"
LABELS = ["billing", "bug", "how-to", "other"]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


def provider_for(fake: FakeOpenAIServer, timeout: float = 5.0, retries: int = 3) -> OpenAIProvider:
    return OpenAIProvider(API_KEY, fake.base_url, timeout=timeout, max_retries=retries)


def text_request(prompt: str = "Say hello", **kwargs: object) -> LLMRequest:
    return LLMRequest(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": prompt}],
        **kwargs,  # type: ignore[arg-type]
    )


def classification_request() -> LLMRequest:
    return LLMRequest(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Classify: I was charged twice."}],
        temperature=0.0,
        output_kind="classification",
        labels=LABELS,
        json_schema=build_json_schema("classification", LABELS, []),
    )


def test_answer_comes_back_with_usage_latency_model_and_kind(server: FakeOpenAIServer) -> None:
    server.plan(answer("Hi there!", usage=(12, 3)))
    provider = provider_for(server)

    response = provider.complete(text_request(temperature=0.2, max_tokens=50))

    assert response.text == "Hi there!"
    assert (response.prompt_tokens, response.completion_tokens) == (12, 3)
    assert response.model == "gpt-4o-mini"
    assert response.provider == "compatible" == provider.kind
    assert response.latency_ms > 0
    assert response.demo is False
    sent = server.chat_requests[0].json
    assert sent["messages"][1] == {"role": "user", "content": "Say hello"}
    assert sent["temperature"] == 0.2
    assert sent["max_tokens"] == 50  # compatible servers get the widely supported name
    assert "response_format" not in sent


def test_authorization_header_carries_the_key(server: FakeOpenAIServer) -> None:
    provider_for(server).complete(text_request())

    assert server.chat_requests[0].headers["authorization"] == f"Bearer {API_KEY}"


def test_rate_limited_twice_then_answers(server: FakeOpenAIServer) -> None:
    server.plan(error(429), error(429), answer("Third time lucky"))

    response = provider_for(server).complete(text_request())

    assert response.text == "Third time lucky"
    assert len(server.chat_requests) == 3


def test_server_errors_until_retries_run_out(server: FakeOpenAIServer) -> None:
    server.plan(*[error(500)] * 10)

    with pytest.raises(LLMError) as caught:
        provider_for(server, retries=2).complete(text_request())

    assert len(server.chat_requests) == 3
    assert str(caught.value) == (
        "The AI service failed 3 times with a server error (HTTP 500); retry the run later."
    )


def test_rate_limit_that_never_ends_says_so(server: FakeOpenAIServer) -> None:
    server.plan(*[error(429)] * 10)

    with pytest.raises(LLMError) as caught:
        provider_for(server, retries=3).complete(text_request())

    assert len(server.chat_requests) == 4
    assert str(caught.value) == (
        "The AI service refused 4 times with 'rate limited' (HTTP 429); retry the run later."
    )


def test_slow_server_times_out_with_a_friendly_message(server: FakeOpenAIServer) -> None:
    server.plan(answer("too late", delay=3.0), answer("too late", delay=3.0))

    with pytest.raises(LLMError) as caught:
        provider_for(server, timeout=0.5, retries=1).complete(text_request())

    message = str(caught.value)
    assert "did not answer within 0.5 s" in message
    assert "tried 2 times" in message
    assert len(server.chat_requests) == 2


def test_unreachable_server_names_the_host() -> None:
    with FakeOpenAIServer() as fake:
        base_url = fake.base_url
    provider = OpenAIProvider(api_key=API_KEY, base_url=base_url, timeout=1.0, max_retries=0)

    with pytest.raises(LLMError) as caught:
        provider.complete(text_request())

    host = base_url.split("//")[1].split("/")[0]
    assert str(caught.value).startswith(f"Could not reach the AI service at {host} (tried once)")
    assert "OPENAI_BASE_URL" in str(caught.value)


def test_rejected_key_is_explained_without_showing_it(server: FakeOpenAIServer) -> None:
    server.plan(error(401, f"Incorrect API key provided: {API_KEY}", code="invalid_api_key"))
    provider = provider_for(server)

    with pytest.raises(LLMError) as caught:
        provider.complete(text_request())

    assert "rejected the API key" in str(caught.value)
    assert len(server.chat_requests) == 1  # 401 is not retried
    assert API_KEY not in str(caught.value)
    assert caught.value.__suppress_context__  # the client's exception (server text) is dropped
    assert API_KEY not in repr(caught.value)
    assert API_KEY not in repr(provider)


def test_bad_request_shows_the_servers_reason_with_the_key_hidden(
    server: FakeOpenAIServer,
) -> None:
    server.plan(error(400, f"Unsupported value 'temperature' (key was {API_KEY})"))

    with pytest.raises(LLMError) as caught:
        provider_for(server).complete(text_request())

    assert str(caught.value).startswith("The AI service rejected the request (HTTP 400)")
    assert "Unsupported value 'temperature'" in str(caught.value)
    assert API_KEY not in str(caught.value)


def test_repr_never_shows_the_key(server: FakeOpenAIServer) -> None:
    provider = provider_for(server)

    assert API_KEY not in repr(provider)
    assert API_KEY not in str(provider)
    assert "compatible" in repr(provider)


def test_classification_sends_json_schema_and_rejects_unknown_label(
    server: FakeOpenAIServer,
) -> None:
    server.plan(answer('{"label": "refund"}'))
    request = classification_request()

    response = provider_for(server).complete(request)
    with pytest.raises(LLMError) as caught:
        parse_answer("classification", LABELS, [], response.text)

    expected = "The AI answered 'refund', which is not one of: billing, bug, how-to, other"
    assert str(caught.value) == expected
    sent = server.chat_requests[0].json
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "loopdesk_classification",
            "schema": request.json_schema,
            "strict": True,
        },
    }
    schema = sent["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["label"]["enum"] == LABELS


def test_classification_answer_in_the_list_parses(server: FakeOpenAIServer) -> None:
    server.plan(answer('{"label": "Billing"}'))

    response = provider_for(server).complete(classification_request())

    assert parse_answer("classification", LABELS, [], response.text) == "billing"


def test_json_answer_missing_a_field_is_an_error(server: FakeOpenAIServer) -> None:
    fields = [JsonOutputField(name="title"), JsonOutputField(name="priority", type="number")]
    server.plan(answer(json.dumps({"title": "Fix login"})))
    request = LLMRequest(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Extract the ticket."}],
        output_kind="json",
        json_schema=build_json_schema("json", [], fields),
    )

    response = provider_for(server).complete(request)
    with pytest.raises(LLMError) as caught:
        parse_answer("json", [], fields, response.text)

    assert "field 'priority' is missing" in str(caught.value)
    sent_format = server.chat_requests[0].json["response_format"]
    assert sent_format["json_schema"]["schema"] == request.json_schema


def test_base_url_with_a_path_prefix() -> None:
    with FakeOpenAIServer(prefix="/gateway/v1") as fake:
        provider = OpenAIProvider(api_key=API_KEY, base_url=fake.base_url)

        response = provider.complete(text_request())

        assert response.text == fake.default_content
        assert [r.path for r in fake.requests] == ["/gateway/v1/chat/completions"]
        assert fake.base_url.endswith("/gateway/v1")


def test_kind_is_openai_for_the_official_endpoint() -> None:
    assert OpenAIProvider(api_key=API_KEY).kind == "openai"
    assert OpenAIProvider(API_KEY, base_url="https://api.openai.com/v1/").kind == "openai"
    assert OpenAIProvider(API_KEY, base_url="http://localhost:11434/v1").kind == "compatible"


def test_refusal_becomes_a_readable_error(server: FakeOpenAIServer) -> None:
    refusal = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": None, "refusal": "I can't help."},
                "finish_reason": "stop",
            }
        ],
    }
    server.plan(Planned(body=refusal))

    with pytest.raises(LLMError, match=r"The AI declined to answer: I can't help\."):
        provider_for(server).complete(text_request())


def test_reasoning_models_get_no_temperature(server: FakeOpenAIServer) -> None:
    provider = provider_for(server)

    provider.complete(LLMRequest(model="o3-mini", messages=[{"role": "user", "content": "x"}]))
    provider.complete(LLMRequest(model="gpt-4.1", messages=[{"role": "user", "content": "x"}]))

    first, second = (r.json for r in server.chat_requests)
    assert "temperature" not in first
    assert second["temperature"] == 0.7


def test_reply_that_is_not_a_chat_completion(server: FakeOpenAIServer) -> None:
    server.plan(Planned(body="<html>gateway login</html>"))

    with pytest.raises(LLMError, match=r"sent a reply that is not a chat completion; check"):
        provider_for(server).complete(text_request())


def test_answer_cut_off_by_max_tokens(server: FakeOpenAIServer) -> None:
    body = {"choices": [{"index": 0, "message": {"content": ""}, "finish_reason": "length"}]}
    server.plan(Planned(body=body))

    with pytest.raises(LLMError, match=r"used up the step's max tokens \(5\)"):
        provider_for(server).complete(text_request(max_tokens=5))
