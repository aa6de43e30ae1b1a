import { expect, test } from "@playwright/test";
import { fakeOpenAiBaseUrl } from "../playwright.config";
import { VISIBLE_WITHIN_MS, addFakeOpenAi, confirmEmail, hydrated, signUp } from "./helpers";


test("sign up, create a key, add a provider, call /v1, see the request on the dashboard", async ({ page, request }) => {
  const email = `e2e-${Date.now()}@example.com`;

  // Anonymous visitors are sent to log in.
  await page.goto("/");
  await expect(page).toHaveURL(/\/login$/);

  await page.goto("/signup");
  await hydrated(page);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("weak");
  await page.getByRole("button", { name: "Sign up" }).click();
  await expect(page.getByRole("alert")).toContainText("at least 10 characters");
  await page.getByLabel("Password").fill("a sturdy passphrase 42");
  await page.getByRole("button", { name: "Sign up" }).click();
  // No session until the link e-mailed to the address is followed: it logs in.
  await expect(page.getByTestId("signup-sent")).toContainText(email);
  await page.goto("/");
  await expect(page).toHaveURL(/\/login$/);
  await confirmEmail(page, email);
  await page.goto("/");
  await hydrated(page);
  await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();
  await expect(page.getByTestId("request-count")).toHaveText("0");

  // Keys: the full key is shown once, by the hydrated page.
  await page.getByRole("link", { name: "Keys" }).click();
  await expect(page.getByRole("heading", { name: "Gateway keys" })).toBeVisible();
  await page.getByLabel("Key name").fill("e2e");
  await page.getByRole("button", { name: "Create key" }).click();
  const key = (await page.getByTestId("new-key").textContent())?.trim() ?? "";
  expect(key).toMatch(/^gw_[A-Za-z0-9]{40}$/);
  await expect(page.getByTestId("key-row")).toHaveCount(1);
  await expect(page.getByTestId("key-row")).toContainText(key.slice(0, 11));

  // Providers: the form only opens through a client-side click, so a broken WASM build fails here.
  await page.getByRole("link", { name: "Providers" }).click();
  await hydrated(page);
  await expect(page.getByTestId("add-provider-form")).toHaveCount(0);
  await page.getByTestId("toggle-add-provider").click();
  const form = page.getByTestId("add-provider-form");
  await expect(form).toBeVisible();
  await form.getByLabel("API key").fill("sk-e2e-provider-key-98765");
  await form.getByLabel("Base URL (optional)").fill(fakeOpenAiBaseUrl);
  await form.getByRole("button", { name: "Save provider" }).click();
  const row = page.getByTestId("provider-row");
  await expect(row).toHaveCount(1);
  await expect(row).toContainText("sk-…8765");
  await expect(row).not.toContainText("sk-e2e-provider-key-98765");
  // Test: the provider is asked for its models list with the saved key and base URL.
  await row.getByTestId("test-provider").click();
  await expect(page.getByTestId("provider-check")).toHaveText("OpenAI: the key works; the provider lists 3 models for it.");

  // An application calls /v1 with the key.
  const response = await request.post("/v1/chat/completions", {
    headers: { Authorization: `Bearer ${key}` },
    data: { model: "gpt-4o-mini", messages: [{ role: "user", content: "Hello from the browser test" }] },
  });
  expect(response.status()).toBe(200);
  const completion = await response.json();
  expect(completion.choices[0].message.content).toBe("Hello from the fake OpenAI server.");
  expect(response.headers()["x-gateway-model"]).toBe("openai/gpt-4o-mini");

  // The dashboard shows it once the usage batch is written (usually within a second or two).
  await expect(async () => {
    await page.goto("/");
    await expect(page.getByTestId("request-count")).toHaveText("1", { timeout: 1_000 });
  }).toPass({ timeout: VISIBLE_WITHIN_MS });

  // Log out: the portal is closed again.
  await hydrated(page);
  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto("/keys");
  await expect(page).toHaveURL(/\/login$/);
});

test("a wrong password is refused with a clear message", async ({ page }) => {
  await page.goto("/login");
  await hydrated(page);
  await page.getByLabel("Email").fill("nobody@example.com");
  await page.getByLabel("Password").fill("definitely wrong");
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page.getByRole("alert")).toHaveText(
    "Wrong email or password — or the address is not confirmed yet: follow the link we e-mailed to it.",
  );
});

test("the dashboard's first-run checklist ticks itself, and the new key's snippet makes the first request", async ({ page, context }) => {
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  await signUp(page, "firstrun");
  await page.goto("/");
  await hydrated(page);
  const checklist = page.getByTestId("first-run");
  await expect(checklist).toBeVisible();
  await expect(page.getByTestId("step-confirm")).toHaveAttribute("data-done", "true");
  await expect(page.getByTestId("step-provider")).toHaveAttribute("data-done", "false");
  // The base URL of this server, before any key exists.
  const baseUrl = (await page.getByTestId("base-url").textContent())?.trim() ?? "";
  expect(baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);

  await addFakeOpenAi(page);
  // The new key comes with its snippets, the key filled in; Copy puts one on the clipboard.
  await page.goto("/keys");
  await hydrated(page);
  await page.getByLabel("Key name").fill("first");
  await page.getByRole("button", { name: "Create key" }).click();
  const key = (await page.getByTestId("new-key").textContent())?.trim() ?? "";
  const curl = (await page.getByTestId("snippet").first().textContent()) ?? "";
  expect(curl).toContain(`${baseUrl}/chat/completions`);
  expect(curl).toContain(`Authorization: Bearer ${key}`);
  await page.getByTestId("snippets").getByRole("button", { name: "Copy" }).nth(1).click();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(curl);
  for (const client of ["Python (openai)", "Node (openai)", "Python (anthropic)", "Claude Code", "Codex"]) {
    await expect(page.getByTestId("snippets").getByText(client, { exact: true })).toBeVisible();
  }

  // The dashboard, left open, ticks the last step when the snippet's request arrives: no reload.
  await page.goto("/");
  await hydrated(page);
  await expect(page.getByTestId("step-key")).toHaveAttribute("data-done", "true");
  await expect(page.getByTestId("step-request")).toHaveAttribute("data-done", "false");
  const body = JSON.parse(curl.split("-d '")[1].replace(/'\s*$/, ""));
  const response = await page.request.post(`${baseUrl}/chat/completions`, {
    headers: { Authorization: `Bearer ${key}` },
    data: body,
  });
  expect(response.status()).toBe(200);
  await expect(page.getByTestId("request-count")).toHaveText("1", { timeout: VISIBLE_WITHIN_MS });
  await expect(checklist).toHaveCount(0);
});
