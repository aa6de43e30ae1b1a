// Starts the real gateway binary on a fresh SQLite database with the fake providers
// (target/debug/fake-providers), and sets up one account per entry of `accounts` through the admin
// CLI (plan pro, the providers given, one gw_ key), as tests/python/conftest.py does.
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { root, startGateway as startSdkGateway } from "../node/gateway.mjs";

export { root };
const providerKey = "sk-clients-test-0123456789";

const fixture = (path) => JSON.parse(readFileSync(join(root, "testkit/fixtures", path), "utf8"));
/** The fake providers' answers, by provider. */
export const TEXT_OF = {
  openai: fixture("openai/chat_completion.json").choices[0].message.content,
  anthropic: fixture("anthropic/message.json").content[0].text,
};

/**
 * `accounts`: `{ name: { providers: ["openai", …] } }`. Resolves with `{ url, keys, stop }`: the
 * gateway's root URL (no /v1), each account's gw_ key by name, and `stop()`. The gateway and the
 * fakes are started as the SDK tests start them (tests/node/gateway.mjs).
 */
export async function startGateway(accounts, { label = "clients" } = {}) {
  const names = Object.keys(accounts);
  const gateway = await startSdkGateway({
    providerKey,
    label,
    accounts: names.map((name) => ({
      email: `${label}-${name}@example.com`,
      keyName: label,
      providers: accounts[name].providers,
    })),
  });
  const keys = Object.fromEntries(names.map((name, index) => [name, gateway.keys[index]]));
  return { url: gateway.base, keys, stop: gateway.stop };
}
