"""OpenAIProvider against a local OpenAI-protocol server, through the real `openai` client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

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
        "The AI service failed 3 times with a server error (HTTP 500): Fake server error 500; "
        "retry the run later."
    )


def test_rate_limit_that_never_ends_says_so(server: FakeOpenAIServer) -> None:
    server.plan(*[error(429)] * 10)

    with pytest.raises(LLMError) as caught:
        provider_for(server, retries=3).complete(text_request())

    assert len(server.chat_requests) == 4
    assert str(caught.value) == (
        "The AI service refused 4 times with 'rate limited' (HTTP 429): Fake server error 429; "
        "retry the run later."
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
    server.plan(error(400, f"messages[1].content is too long (key was {API_KEY})"))

    with pytest.raises(LLMError) as caught:
        provider_for(server).complete(text_request())

    assert str(caught.value).startswith("The AI service rejected the request (HTTP 400)")
    assert "messages[1].content is too long" in str(caught.value)
    assert API_KEY not in str(caught.value)
    assert len(server.chat_requests) == 1  # a bad request cannot pass on a retry


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


# -- servers as they are in the wild -----------------------------------------------------------
class Heard:
    """What a call reported while it ran."""

    def __init__(self) -> None:
        self.attempts: list[tuple[int, str]] = []
        self.texts: list[str] = []

    def attempt(self, number: int, why: str) -> None:
        self.attempts.append((number, why))

    def text(self, so_far: str) -> None:
        self.texts.append(so_far)


def test_each_new_attempt_is_reported_while_the_call_runs(server: FakeOpenAIServer) -> None:
    server.plan(error(429), error(503), answer("At last"))
    heard = Heard()

    response = provider_for(server).complete(text_request(), heard)

    assert heard.attempts == [(2, "rate limited (HTTP 429)"), (3, "server error (HTTP 503)")]
    assert response.attempts == 3 and heard.texts[-1] == "At last"


def json_request(model: str = "smollm2") -> LLMRequest:
    fields = [JsonOutputField(name="title", type="string"), JsonOutputField(name="score", type="number")]
    return LLMRequest(
        model=model,
        messages=[{"role": "user", "content": "Rate this post."}],
        output_kind="json",
        json_schema=build_json_schema("json", [], fields),
    )


def test_a_server_refusing_json_schema_with_500_gets_json_object_with_the_schema_in_the_prompt() -> None:
    with FakeOpenAIServer(refuse_formats={"json_schema": 500}) as fake:
        fake.plan(answer('{"label": "billing"}'), answer('{"label": "bug"}'))
        provider = provider_for(fake)

        response = provider.complete(classification_request())

        first, second = (r.json for r in fake.chat_requests)
        assert first["response_format"]["type"] == "json_schema"
        assert second["response_format"]["type"] == "json_object"
        assert "JSON Schema" in second["messages"][-1]["content"]  # the schema is in the prompt
        assert response.structured == "json_object"
        assert "does not take `json_schema` answers" in response.notes[0]
        assert "Input should be 'text' or 'json_object'" in response.notes[0]  # the server's words
        assert parse_answer("classification", LABELS, [], response.text) == "billing"

        # remembered for this server and model: the next call goes straight to json_object
        provider_for(fake).complete(classification_request())
        assert [r.json["response_format"]["type"] for r in fake.chat_requests] == [
            "json_schema", "json_object", "json_object",
        ]  # fmt: skip


def test_a_server_with_neither_format_gets_the_schema_in_a_plain_prompt() -> None:
    with FakeOpenAIServer(refuse_formats={"json_schema": 400, "json_object": 400}) as fake:
        fake.plan(answer('```json\n{"title": "Spring", "score": 4}\n```'))
        response = provider_for(fake).complete(json_request())

        kinds = [(r.json.get("response_format") or {}).get("type") for r in fake.chat_requests]
        assert kinds == ["json_schema", "json_object", None]
        assert response.structured == "prompt" and len(response.notes) == 2
        fields = [JsonOutputField(name="title", type="string"), JsonOutputField(name="score", type="number")]
        assert parse_answer("json", [], fields, response.text) == {"title": "Spring", "score": 4}


def test_parameters_refused_by_name_are_renamed_or_dropped_once_and_remembered() -> None:
    refusals = {
        "max_tokens": "Unsupported parameter: 'max_tokens' is not supported with this model. "
        "Use 'max_completion_tokens' instead.",
        "temperature": "Unsupported value: 'temperature' does not support 0.7 with this model.",
    }
    with FakeOpenAIServer(refuse_params=refusals) as fake:
        request = LLMRequest(
            model="azure-deployment-7", messages=[{"role": "user", "content": "x"}], max_tokens=64
        )
        response = provider_for(fake).complete(request)

        assert response.text == "Hello from the fake OpenAI server."
        last = fake.chat_requests[-1].json
        assert last["max_completion_tokens"] == 64 and "max_tokens" not in last and "temperature" not in last
        assert len(fake.chat_requests) == 3  # one adjustment each, no blind retries
        assert any("refused `max_tokens`" in n and "`max_completion_tokens`" in n for n in response.notes)
        assert any("refused `temperature`" in n for n in response.notes)

        provider_for(fake).complete(request)  # remembered: right the first time
        assert len(fake.chat_requests) == 4


def test_a_step_marked_reasoning_gets_max_completion_tokens_and_no_temperature(
    server: FakeOpenAIServer,
) -> None:
    alias = LLMRequest(model="team-gateway-smart", messages=[{"role": "user", "content": "x"}], max_tokens=99)
    provider_for(server).complete(alias)
    provider_for(server).complete(replace(alias, reasoning=True))

    plain, reasoning = (r.json for r in server.chat_requests)
    assert plain["temperature"] == 0.7 and plain["max_tokens"] == 99
    assert "temperature" not in reasoning and reasoning["max_completion_tokens"] == 99
    assert "max_tokens" not in reasoning


def test_unknown_model_is_not_retried_and_says_what_the_server_said(server: FakeOpenAIServer) -> None:
    server.plan(*[error(404, "model 'gpt-9' not found, try pulling it first")] * 3)

    with pytest.raises(LLMError) as caught:
        provider_for(server).complete(replace(text_request(), model="gpt-9"))

    assert len(server.chat_requests) == 1
    assert "does not know model 'gpt-9'" in str(caught.value)
    assert "try pulling it first" in str(caught.value)


def test_a_cut_off_answer_is_marked_not_hidden(server: FakeOpenAIServer) -> None:
    server.plan(answer("Use the code SPRING at the", finish_reason="length", usage=(40, 8)))

    response = provider_for(server).complete(text_request(max_tokens=8))

    assert response.cut_off and response.text == "Use the code SPRING at the"
    assert (response.prompt_tokens, response.completion_tokens) == (40, 8)


def test_a_content_filter_stop_says_so_and_keeps_the_usage(server: FakeOpenAIServer) -> None:
    server.plan(answer("", finish_reason="content_filter", usage=(30, 0)))

    with pytest.raises(LLMError) as caught:
        provider_for(server).complete(text_request())

    assert "content filter" in str(caught.value) and "will not help" in str(caught.value)
    assert len(server.chat_requests) == 1
    assert caught.value.response is not None and caught.value.response.prompt_tokens == 30


def test_usage_missing_or_cached_is_reported_as_it_is(server: FakeOpenAIServer) -> None:
    server.plan(answer("no usage here", no_usage=True), answer("cached", usage=(1000, 5), cached_tokens=800))
    provider = provider_for(server)

    missing = provider.complete(text_request())
    cached = provider.complete(text_request())

    assert (missing.prompt_tokens, missing.completion_tokens) == (None, None)
    assert (cached.prompt_tokens, cached.cached_tokens) == (1000, 800)


def test_a_text_answer_streams_in_with_its_usage(server: FakeOpenAIServer) -> None:
    draft = "Spring is here and so is our biggest sale of the year"
    server.plan(answer(draft, usage=(20, 12)))
    heard = Heard()

    response = provider_for(server).complete(text_request(), heard)
    seen = heard.texts

    assert server.chat_requests[0].json["stream"] is True
    assert len(seen) > 2 and seen[-1] == draft and all(draft.startswith(s) for s in seen)
    assert response.text == draft and (response.prompt_tokens, response.completion_tokens) == (20, 12)


def test_a_server_refusing_stream_options_streams_without_them() -> None:
    with FakeOpenAIServer(
        refuse_params={"stream_options": "extra inputs are not permitted: stream_options"}
    ) as fake:
        heard = Heard()
        response = provider_for(fake).complete(text_request(), heard)

        assert response.text == "Hello from the fake OpenAI server." and heard.texts[-1] == response.text
        assert "stream_options" not in fake.chat_requests[-1].json
        assert response.prompt_tokens is None  # without stream_options the server sent no usage
        assert "sends no token counts while streaming" in response.notes[-1]

        counted = provider_for(fake).complete(text_request(), Heard())  # now whole, and counted
        assert "stream" not in fake.chat_requests[-1].json and counted.prompt_tokens


def test_a_fastapi_style_refusal_is_read_and_acted_on(server: FakeOpenAIServer) -> None:
    refusal = {"detail": [{"loc": ["body", "temperature"], "msg": "Extra inputs are not permitted"}]}
    server.plan(Planned(status=422, body=refusal))

    response = provider_for(server).complete(text_request())

    assert "temperature" not in server.chat_requests[-1].json
    assert response.notes == ("the server refused `temperature`; retried without it",)


def test_a_server_that_cannot_stream_answers_whole() -> None:
    with FakeOpenAIServer(refuse_params={"stream": "stream is not supported by this server"}) as fake:
        heard = Heard()
        response = provider_for(fake).complete(text_request(), heard)

        assert response.text == "Hello from the fake OpenAI server."
        assert "stream" not in fake.chat_requests[-1].json
        assert response.notes == ("the server refused `stream`; retried without it",)
