import { defineConfig } from "@playwright/test";

// The portal under test runs from the debug build that scripts/build.sh made, on a fresh
// SQLite database, with fake providers and a fake Stripe on 127.0.0.1.
const GATEWAY_PORT = 3900;
const FAKE_OPENAI_PORT = 3901;
const FAKE_STRIPE_PORT = 3902;
const SMTP_PORT = 3903;
const MAILBOX_PORT = 3904;
const STRIPE_SECRET_KEY = "sk_test_e2e";
const STRIPE_WEBHOOK_SECRET = "whsec_e2e";
const dataDir = "../target/e2e-data";

export default defineConfig({
  testDir: "./tests",
  // A test waits at most a minute for a request to show (helpers.ts: VISIBLE_WITHIN_MS) after up
  // to five page loads, each hydrating the debug WASM beside the other suites on two cores.
  timeout: 150_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  // A test that passes only on its second try is reported as flaky in the list: a stall of the
  // machine (the other suites share it) does not fail the run, a test that always fails still does.
  retries: 1,
  reporter: [["list"]],
  use: {
    baseURL: `http://127.0.0.1:${GATEWAY_PORT}`,
    // A page or a click that never completes names itself instead of running into the test's
    // timeout.
    navigationTimeout: 30_000,
    actionTimeout: 30_000,
    launchOptions: {
      executablePath: "/usr/bin/chromium",
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
    screenshot: "only-on-failure",
    trace: "off",
  },
  webServer: [
    {
      command:
        `../target/debug/fake-providers --openai-addr 127.0.0.1:${FAKE_OPENAI_PORT}` +
        ` --stripe-addr 127.0.0.1:${FAKE_STRIPE_PORT} --stripe-secret-key ${STRIPE_SECRET_KEY}` +
        ` --stripe-webhook-url http://127.0.0.1:${GATEWAY_PORT}/webhooks/stripe --stripe-webhook-secret ${STRIPE_WEBHOOK_SECRET}` +
        ` --stripe-price price_e2e_pro=2000:usd:month --stripe-price price_e2e_enterprise=50000:usd:month` +
        ` --smtp-addr 127.0.0.1:${SMTP_PORT} --mailbox-addr 127.0.0.1:${MAILBOX_PORT}`,
      port: FAKE_OPENAI_PORT,
      reuseExistingServer: false,
      stdout: "ignore",
    },
    {
      // bench/portal-weight.sh runs the release binary (with its release site) instead.
      command: `rm -rf ${dataDir} && mkdir -p ${dataDir} && exec ${process.env.E2E_GATEWAY_BIN ?? "../target/debug/llm-gateway"} serve`,
      url: `http://127.0.0.1:${GATEWAY_PORT}/healthz`,
      reuseExistingServer: false,
      timeout: 60_000,
      env: {
        GATEWAY_ADDR: `127.0.0.1:${GATEWAY_PORT}`,
        GATEWAY_DATA_DIR: dataDir,
        DATABASE_URL: `sqlite://${dataDir}/gateway.db?mode=rwc`,
        LEPTOS_SITE_ROOT: process.env.E2E_SITE_ROOT ?? "../target/site",
        GATEWAY_PUBLIC_URL: `http://127.0.0.1:${GATEWAY_PORT}`,
        STRIPE_SECRET_KEY,
        STRIPE_WEBHOOK_SECRET,
        STRIPE_PRICE_PRO: "price_e2e_pro",
        STRIPE_PRICE_ENTERPRISE: "price_e2e_enterprise",
        STRIPE_API_BASE: `http://127.0.0.1:${FAKE_STRIPE_PORT}/`,
        RUST_LOG: "warn",
        SMTP_URL: `smtp://127.0.0.1:${SMTP_PORT}`,
        // The fake provider runs on this machine: a private address the SSRF guard refuses.
        ALLOWED_PRIVATE_UPSTREAMS: "127.0.0.1",
      },
    },
  ],
});

export const fakeOpenAiBaseUrl = `http://127.0.0.1:${FAKE_OPENAI_PORT}/v1`;
export const mailboxUrl = `http://127.0.0.1:${MAILBOX_PORT}/messages`;
