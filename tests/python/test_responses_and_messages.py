"""The Responses API through the official `openai` SDK and the Messages API through the official
`anthropic` SDK, both pointed at the gateway with a `gw_` key: what agents built on either run."""

import json

import anthropic
import openai
import pytest

FAKE_ANSWER = "Hello from the fake OpenAI server."
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def openai_client(gateway):
    return openai.OpenAI(base_url=gateway["base_url"], api_key=gateway["key"], max_retries=0)


def anthropic_client(gateway, key=None):
    # Anthropic's SDK adds /v1 itself.
    return anthropic.Anthropic(
        base_url=gateway["base_url"].removesuffix("/v1"), api_key=key or gateway["key"], max_retries=0
    )


def test_responses_create(gateway):
    response = openai_client(gateway).responses.create(
        model="gpt-4o-mini", instructions="Be terse.", input="Say hello", temperature=0.2
    )
    assert response.object == "response"
    assert response.status == "completed"
    assert response.output_text == FAKE_ANSWER
    assert response.usage.input_tokens == 19 and response.usage.output_tokens == 10


def test_responses_streamed_event_by_event_and_with_the_stream_helper(gateway):
    client = openai_client(gateway)
    events = list(client.responses.create(model="gpt-4o-mini", input="Say hello", stream=True))
    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == FAKE_ANSWER
    assert [e.sequence_number for e in events] == list(range(len(events)))

    with client.responses.stream(model="gpt-4o-mini", input="Say hello") as stream:
        final = stream.get_final_response()
    assert final.output_text == FAKE_ANSWER
    assert final.usage.total_tokens == 29


def test_responses_function_tool_round_trip(gateway):
    client = openai_client(gateway)
    first = client.responses.create(model="openai/fake-tools", input="Weather in Paris?", tools=[WEATHER_TOOL])
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather"
    assert json.loads(calls[0].arguments) == {"city": "Paris"}
    second = client.responses.create(
        model="gpt-4o-mini",
        tools=[WEATHER_TOOL],
        input=[
            {"role": "user", "content": "Weather in Paris?"},
            {"type": "function_call", "call_id": calls[0].call_id, "name": calls[0].name, "arguments": calls[0].arguments},
            {"type": "function_call_output", "call_id": calls[0].call_id, "output": '{"celsius": 18}'},
        ],
    )
    assert second.output_text == FAKE_ANSWER

    with client.responses.stream(model="openai/fake-tools", input="Weather in Paris?", tools=[WEATHER_TOOL]) as stream:
        streamed = stream.get_final_response()
    streamed_calls = [item for item in streamed.output if item.type == "function_call"]
    assert json.loads(streamed_calls[0].arguments) == {"city": "Paris"}


def test_responses_refuses_stored_state_clearly(gateway):
    with pytest.raises(openai.BadRequestError) as raised:
        openai_client(gateway).responses.create(model="gpt-4o-mini", input="x", store=True)
    assert raised.value.body["param"] == "store"
    with pytest.raises(openai.BadRequestError):
        openai_client(gateway).responses.create(model="gpt-4o-mini", input="x", previous_response_id="resp_123")


def test_models_retrieve(gateway):
    client = openai_client(gateway)
    assert client.models.retrieve("openai/gpt-4o-mini").id == "openai/gpt-4o-mini"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("openai/no-such-model")


def test_anthropic_messages_create(gateway):
    message = anthropic_client(gateway).messages.create(
        model="openai/gpt-4o-mini",
        max_tokens=64,
        system="Be terse.",
        messages=[{"role": "user", "content": "Say hello"}],
    )
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].text == FAKE_ANSWER
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 19 and message.usage.output_tokens == 10


def test_anthropic_messages_stream(gateway):
    with anthropic_client(gateway).messages.stream(
        model="openai/gpt-4o-mini", max_tokens=64, messages=[{"role": "user", "content": "Say hello"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == FAKE_ANSWER
    assert final.content[0].text == FAKE_ANSWER
    assert final.usage.output_tokens == 10


def test_anthropic_tool_use_plain_and_streamed(gateway):
    client = anthropic_client(gateway)
    tools = [{"name": "get_weather", "description": "Weather of a city",
              "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
    message = client.messages.create(
        model="openai/fake-tools", max_tokens=64, tools=tools, messages=[{"role": "user", "content": "Weather in Paris?"}]
    )
    tool_use = next(block for block in message.content if block.type == "tool_use")
    assert tool_use.name == "get_weather" and tool_use.input == {"city": "Paris"}
    assert message.stop_reason == "tool_use"
    with client.messages.stream(
        model="openai/fake-tools", max_tokens=64, tools=tools, messages=[{"role": "user", "content": "Weather in Paris?"}]
    ) as stream:
        final = stream.get_final_message()
    assert next(block for block in final.content if block.type == "tool_use").input == {"city": "Paris"}
    answer = client.messages.create(
        model="openai/gpt-4o-mini", max_tokens=64, tools=tools,
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": tool_use.id, "name": tool_use.name, "input": tool_use.input}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "18C"}]},
        ],
    )
    assert answer.content[0].text == FAKE_ANSWER


def test_anthropic_errors_have_anthropics_shape(gateway):
    with pytest.raises(anthropic.AuthenticationError) as raised:
        anthropic_client(gateway, key="gw_" + "x" * 40).messages.create(
            model="openai/gpt-4o-mini", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        )
    assert raised.value.body["type"] == "error"
    assert raised.value.body["error"]["type"] == "authentication_error"
    with pytest.raises(anthropic.RateLimitError):
        anthropic_client(gateway).messages.create(
            model="openai/fake-error-429", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        )


def test_auto_routing_on_both_routes(gateway):
    """`auto` is routed among the key's models, as on chat, and the answer says where it went."""
    raw = openai_client(gateway).responses.with_raw_response.create(model="auto", input="hi")
    assert raw.headers["x-gateway-route-reason"].startswith("auto")
    assert raw.parse().output_text == FAKE_ANSWER
    raw = anthropic_client(gateway).messages.with_raw_response.create(
        model="auto", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-gateway-route-reason"].startswith("auto")
    assert raw.parse().content[0].text == FAKE_ANSWER


def test_anthropic_count_tokens(gateway):
    """Anthropic's SDK counts tokens before it sends (Claude Code does, for one)."""
    raw = anthropic_client(gateway).messages.with_raw_response.count_tokens(
        model="openai/gpt-4o-mini", system="Be terse.", messages=[{"role": "user", "content": "Say hello"}]
    )
    assert raw.parse().input_tokens > 0
    # Not Anthropic's model: the gateway's estimate, and it says so.
    assert raw.headers["x-gateway-token-count"] == "estimated"
