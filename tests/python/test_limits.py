"""Budgets and rate limits as the official `openai` SDK sees them: OpenAI's `x-ratelimit-*`
headers on answers, and 429s the SDK raises as `RateLimitError` with our codes."""

import time

import openai


def client(gateway, key):
    return openai.OpenAI(base_url=gateway["base_url"], api_key=key, max_retries=0)


def hello(sdk):
    return sdk.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=10
    )


def new_key(gateway, name):
    return gateway["cli"]("key", "create", "--email", "sdk@example.com", "--name", name).strip()


def test_rate_limit_headers_then_rate_limit_error(gateway):
    key = new_key(gateway, "rpm")
    # Counting per minute: start well inside one.
    if time.time() % 60 > 45:
        time.sleep(61 - time.time() % 60)
    gateway["cli"]("limits", "set", "--email", "sdk@example.com", "--key-prefix", key[:16], "--rpm", "2")
    sdk = client(gateway, key)
    deadline = time.monotonic() + 5
    while True:  # servers learn of the change within a second (the change journal)
        raw = hello(sdk)
        if "x-ratelimit-limit-requests" in raw.headers or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert raw.headers["x-ratelimit-limit-requests"] == "2"
    assert raw.headers["x-ratelimit-remaining-requests"] == "1"
    assert raw.headers["x-ratelimit-reset-requests"].endswith("s")
    assert hello(sdk).headers["x-ratelimit-remaining-requests"] == "0"
    try:
        hello(sdk)
        raise AssertionError("the third request of the minute must be refused")
    except openai.RateLimitError as error:
        assert error.status_code == 429
        assert error.code == "rate_limit_exceeded"
        assert "2 requests per minute" in error.message
        assert 1 <= int(error.response.headers["retry-after"]) <= 60


def test_budget_exceeded_raises_rate_limit_error_with_its_code(gateway):
    key = new_key(gateway, "budget")
    # A millionth of a dollar: less than the worst case of any request.
    gateway["cli"]("limits", "set", "--email", "sdk@example.com", "--key-prefix", key[:16],
                   "--budget-usd", "0.000001")
    sdk = client(gateway, key)
    deadline = time.monotonic() + 5
    while True:
        try:
            hello(sdk)
        except openai.RateLimitError as error:
            assert error.code == "budget_exceeded"
            assert error.type == "insufficient_quota"
            assert "monthly budget of $0.0000" in error.message
            break
        assert time.monotonic() < deadline, "the budget was never applied"
        time.sleep(0.2)
    shown = gateway["cli"]("limits", "show", "--email", "sdk@example.com", "--key-prefix", key[:16])
    assert '"monthly_budget_usd":1e-6' in shown.replace(" ", "") or '"monthly_budget_usd":0.000001' in shown.replace(" ", "")
