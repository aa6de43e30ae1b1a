"""Every kind of answer `/v1` gives, validated against OpenAI's published OpenAPI schema
(`openapi/chat_models_subset.json`): what an OpenAI client may rely on, the gateway keeps."""

import json
import pathlib

import urllib.error
import urllib.request
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012



def json_schema(node):
    """OpenAPI's `nullable: true` (which OpenAI's 3.1 document still uses) as JSON Schema says it."""
    if isinstance(node, list):
        return [json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: json_schema(value) for key, value in node.items()}
    if node.get("nullable") is True:
        del node["nullable"]
        return {"anyOf": [node, {"type": "null"}]}
    return node


SPEC = json_schema(json.loads((pathlib.Path(__file__).parent / "openapi" / "chat_models_subset.json").read_text()))
REGISTRY = Registry().with_resource("urn:openai", Resource.from_contents(SPEC, default_specification=DRAFT202012))


def validate(instance, schema_name):
    validator = Draft202012Validator({"$ref": f"urn:openai#/components/schemas/{schema_name}"}, registry=REGISTRY)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    assert not errors, f"{schema_name}: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5]
    )


def call(gateway, path, body=None, key=None):
    """The raw answer: (status, the response to read), errors included."""
    request = urllib.request.Request(
        f"{gateway['base_url']}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key or gateway['key']}", "Content-Type": "application/json"},
    )
    try:
        response = urllib.request.urlopen(request, timeout=30)
    except urllib.error.HTTPError as error:
        return error.code, error
    return response.status, response


def post(gateway, body, key=None):
    status, response = call(gateway, "/chat/completions", body, key)
    with response:
        return status, json.loads(response.read())


def ask(model="openai/gpt-4o-mini", **extra):
    return {"model": model, "messages": [{"role": "user", "content": "Say hello"}], **extra}


def test_the_schema_check_can_fail():
    with pytest.raises(AssertionError):
        validate({"id": "x", "object": "chat.completion"}, "CreateChatCompletionResponse")


@pytest.mark.parametrize(
    "body",
    [ask(), ask("auto"), ask("openai/fake-tools"), ask(response_format={"type": "json_object"})],
    ids=["pinned", "auto-routed", "tool-call", "json-mode"],
)
def test_completions_match_the_schema(gateway, body):
    status, answer = post(gateway, body)
    assert status == 200, answer
    validate(answer, "CreateChatCompletionResponse")


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "openai/fake-tools"], ids=["text", "tool-call"])
def test_every_stream_chunk_matches_the_schema(gateway, model):
    body = ask(model, stream=True, stream_options={"include_usage": True})
    chunks = 0
    status, response = call(gateway, "/chat/completions", body)
    assert status == 200
    with response:
        for raw in response:
            line = raw.decode().rstrip("\r\n")
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            validate(json.loads(line[len("data: "):]), "CreateChatCompletionStreamResponse")
            chunks += 1
    assert chunks >= 2


def test_the_model_list_matches_the_schema(gateway):
    status, response = call(gateway, "/models")
    assert status == 200
    with response:
        validate(json.loads(response.read()), "ListModelsResponse")


@pytest.mark.parametrize(
    "body, key, status",
    [
        (ask(), "gw_not_a_real_key", 401),
        ({"model": "gpt-4o-mini"}, None, 400),
        (ask("openai/fake-missing-model"), None, 404),
        (ask("openai/fake-error-429"), None, 429),
        (ask("openai/fake-error-500"), None, 502),
    ],
    ids=["unknown-key", "missing-messages", "unknown-model", "provider-429", "provider-500"],
)
def test_errors_match_the_schema(gateway, body, key, status):
    answered, error = post(gateway, body, key)
    assert answered == status, error
    validate(error, "ErrorResponse")


def test_one_model_matches_the_schema(gateway):
    status, response = call(gateway, "/models/openai/gpt-4o-mini")
    assert status == 200
    with response:
        validate(json.loads(response.read()), "Model")
    status, error = call(gateway, "/models/openai/no-such-model")
    assert status == 404
    with error:
        validate(json.loads(error.read()), "ErrorResponse")
