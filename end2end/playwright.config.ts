import { defineConfig } from "@playwright/test";

// The portal under test runs from the debug build that `cargo leptos build` made, on a fresh
// SQLite database, with a fake OpenAI server on 127.0.0.1 as its provider.
const GATEWAY_PORT = 3900;
const FAKE_OPENAI_PORT = 3901;
const dataDir = "../target/e2e-data";

export default defineConfig({
  testDir: "./tests",
  timeout: 60_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [["list"]],
  use: {
    baseURL: `http://127.0.0.1:${GATEWAY_PORT}`,
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
      command: `../target/debug/fake-providers --openai-addr 127.0.0.1:${FAKE_OPENAI_PORT}`,
      port: FAKE_OPENAI_PORT,
      reuseExistingServer: false,
      stdout: "ignore",
    },
    {
      command: `rm -rf ${dataDir} && mkdir -p ${dataDir} && exec ../target/debug/llm-gateway serve`,
      url: `http://127.0.0.1:${GATEWAY_PORT}/healthz`,
      reuseExistingServer: false,
      timeout: 60_000,
      env: {
        GATEWAY_ADDR: `127.0.0.1:${GATEWAY_PORT}`,
        GATEWAY_DATA_DIR: dataDir,
        DATABASE_URL: `sqlite://${dataDir}/gateway.db?mode=rwc`,
        LEPTOS_SITE_ROOT: "../target/site",
        RUST_LOG: "warn",
      },
    },
  ],
});

export const fakeOpenAiBaseUrl = `http://127.0.0.1:${FAKE_OPENAI_PORT}/v1`;
