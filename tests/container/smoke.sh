# Sourced by tests/container/run.sh and full-build.sh: `smoke IMAGE [podman run arguments…]` runs
# the image beside the fake providers, then signs up through its portal (the server's first
# account needs no e-mail link without SMTP), adds the provider, creates a key, makes one /v1
# request, and checks that it runs as non-root and reports healthy. The caller provides
# `podman`, `limits`, `name`, `work` and `fail`, and stops what `fake_pid` names.

smoke() {
  local image="$1"
  shift
  echo "== run it"
  coproc FAKE { exec target/debug/fake-providers --openai-addr 127.0.0.1:0; }
  fake_pid=$FAKE_PID
  local first openai port base_url started
  read -r first <&"${FAKE[0]}"
  openai="${first#openai=}"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  base_url="http://127.0.0.1:$port"
  started=$(date +%s%N)
  # Without systemd podman cannot schedule the image's HEALTHCHECK itself; it is run below.
  "${podman[@]}" run -d --name "$name" --network host "${limits[@]}" \
    -e "GATEWAY_ADDR=127.0.0.1:$port" -e "ALLOWED_PRIVATE_UPSTREAMS=127.0.0.1" -e "RUST_LOG=warn" \
    "$@" "$image" >/dev/null 2> >(grep -v 'systemd connection' >&2)
  for _ in $(seq 1 300); do
    curl -fsS "$base_url/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fsS "$base_url/readyz" >/dev/null || fail "not ready after 30 s"
  echo "ready in $(( ($(date +%s%N) - started) / 1000000 )) ms"

  echo "== sign up, add the provider, create a key, call /v1"
  local jar="$work/cookies" key answer user
  post() {
    curl -fsS -b "$jar" -c "$jar" -H "origin: $base_url" "$base_url/api/$1" "${@:2}"
  }
  post sign_up --data-urlencode "email=ops@example.com" --data-urlencode "password=a sturdy passphrase 42" \
    >/dev/null || fail "sign-up refused"
  post add_provider --data-urlencode provider=openai --data-urlencode api_key=sk-test-container \
    --data-urlencode "base_url=$openai" >/dev/null || fail "adding the provider refused"
  key=$(post create_key --data-urlencode name=container \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])') || fail "creating a key refused"
  answer=$(curl -fsS "$base_url/v1/chat/completions" -H "authorization: Bearer $key" \
    -H 'content-type: application/json' \
    -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello from a container"}]}') \
    || fail "/v1 refused"
  echo "$answer" | grep -q 'Hello from the fake OpenAI server' || fail "unexpected answer: $answer"

  echo "== as whom it runs, and its health check"
  user=$("${podman[@]}" top "$name" user | tail -n 1 | tr -d ' ')
  [ "$user" != root ] && [ "$user" != 0 ] || fail "the server runs as $user"
  "${podman[@]}" healthcheck run "$name" >/dev/null || fail "the health check failed"
  echo "runs as $user; healthy; one /v1 request answered"
}
