"""The official `openai` Python package, pointed at the gateway, is our user."""

import json
import time

import openai
import pytest

FAKE_ANSWER = "Hello from the fake OpenAI server."


def client(gateway, key=None):
    # No retries: a test about errors must see the first answer.
    return openai.OpenAI(base_url=gateway["base_url"], api_key=key or gateway["key"], max_retries=0)


def test_chat_completion_through_the_gateway(gateway):
    completion = client(gateway).chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Say hello"},
        ],
        temperature=0.2,
    )
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == FAKE_ANSWER
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens == 19
    assert completion.usage.completion_tokens == 10


def test_response_says_which_model_served_it(gateway):
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-gateway-model"].startswith("openai/")
    assert raw.headers["x-gateway-tier"] in ("cheap", "standard", "strong")
    assert raw.headers["x-gateway-route-reason"].startswith("auto")
    assert raw.parse().choices[0].message.content == FAKE_ANSWER


def test_wrong_key_raises_authentication_error(gateway):
    with pytest.raises(openai.AuthenticationError) as raised:
        client(gateway, key="gw_" + "x" * 40).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    assert raised.value.status_code == 401
    assert raised.value.code == "invalid_api_key"


def test_revoked_key_raises_authentication_error(gateway):
    key = gateway["cli"]("key", "create", "--email", "sdk@example.com", "--name", "to-revoke").strip()
    ok = client(gateway, key).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert ok.choices[0].message.content == FAKE_ANSWER
    gateway["cli"]("key", "revoke", "--email", "sdk@example.com", "--key-prefix", key[:16])
    deadline = time.monotonic() + 5
    while True:
        try:
            client(gateway, key).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        except openai.AuthenticationError as error:
            assert error.code == "revoked_api_key"
            break
        assert time.monotonic() < deadline, "the revoked key still works"
        time.sleep(0.2)


def test_bad_request_and_unknown_model(gateway):
    with pytest.raises(openai.BadRequestError) as raised:
        client(gateway).chat.completions.create(model="gpt-4o-mini", messages=[])
    assert raised.value.body["param"] == "messages"
    with pytest.raises(openai.NotFoundError):
        client(gateway).chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])


def test_upstream_rate_limit_reaches_the_sdk_as_such(gateway):
    with pytest.raises(openai.RateLimitError) as raised:
        client(gateway).chat.completions.create(
            model="openai/fake-error-429", messages=[{"role": "user", "content": "hi"}]
        )
    assert raised.value.response.headers["retry-after"] == "20"


def test_streaming_with_usage(gateway):
    stream = client(gateway).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Say hello"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == FAKE_ANSWER
    assert len(chunks) >= 3
    assert chunks[-1].usage.total_tokens == 29
    assert not chunks[-1].choices


def test_tool_calls_plain_and_streamed(gateway):
    tools = [{"type": "function", "function": {"name": "get_weather",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    completion = client(gateway).chat.completions.create(model="openai/fake-tools", messages=messages, tools=tools)
    call = completion.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert completion.choices[0].finish_reason == "tool_calls"

    name, arguments = "", ""
    for chunk in client(gateway).chat.completions.create(
        model="openai/fake-tools", messages=messages, tools=tools, stream=True
    ):
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            name += delta.function.name or ""
            arguments += delta.function.arguments or ""
    assert name == "get_weather"
    assert json.loads(arguments) == {"city": "Paris"}


def test_models_and_embeddings(gateway):
    ids = [m.id for m in client(gateway).models.list()]
    assert ids[0] == "auto" and "openai/gpt-4o-mini" in ids
    embeddings = client(gateway).embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert len(embeddings.data) == 2 and len(embeddings.data[0].embedding) > 0
