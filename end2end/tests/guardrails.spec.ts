import { expect, test } from "@playwright/test";
import { VISIBLE_WITHIN_MS, addFakeOpenAi, chat, createKey, hydrated, signUp } from "./helpers";

test("destructive buttons ask first, naming what stops working; declining keeps everything", async ({ page }) => {
  await signUp(page, "guard");
  const key = await createKey(page);
  await addFakeOpenAi(page);
  expect((await chat(page.request, key, {})).status()).toBe(200);

  // Revoke, declined: the key still works.
  await page.goto("/keys");
  await hydrated(page);
  const asked: string[] = [];
  page.once("dialog", (dialog) => {
    asked.push(dialog.message());
    return dialog.dismiss();
  });
  await page.getByTestId("key-row").getByRole("button", { name: "Revoke" }).click();
  await expect.poll(() => asked.length).toBe(1);
  expect(asked[0]).toContain("“e2e”");
  expect(asked[0]).toContain("refused");
  await expect(page.getByTestId("key-row")).not.toContainText(/revoked/i);
  expect((await chat(page.request, key, {})).status()).toBe(200);

  // Deleting the provider, declined: still there.
  await page.goto("/providers");
  await hydrated(page);
  page.once("dialog", (dialog) => {
    asked.push(dialog.message());
    return dialog.dismiss();
  });
  await page.getByTestId("provider-row").getByRole("button", { name: "Delete" }).click();
  await expect.poll(() => asked.length).toBe(2);
  expect(asked[1]).toContain("“openai”");
  await expect(page.getByTestId("provider-row")).toHaveCount(1);

  // Saving the same provider again would replace its key: asked, and declining keeps the old one.
  await page.getByTestId("toggle-add-provider").click();
  const form = page.getByTestId("add-provider-form");
  await form.getByLabel("API key").fill("sk-another-key-00001");
  page.once("dialog", (dialog) => {
    asked.push(dialog.message());
    return dialog.dismiss();
  });
  await form.getByRole("button", { name: "Save provider" }).click();
  await expect.poll(() => asked.length).toBe(3);
  expect(asked[2]).toContain("replace");
  await expect(page.getByTestId("provider-row")).toContainText("sk-…8765");

  // Revoke, confirmed: the key is refused from then on.
  await page.goto("/keys");
  await hydrated(page);
  page.once("dialog", (dialog) => dialog.accept());
  await page.getByTestId("key-row").getByRole("button", { name: "Revoke" }).click();
  await expect(page.getByTestId("key-row")).toContainText(/revoked/i);
  expect((await chat(page.request, key, {})).status()).toBe(401);
});

test("without JavaScript the data pages show their data and forms answer on the page", async ({ browser, page }) => {
  await signUp(page, "nojs");
  const key = await createKey(page);
  await addFakeOpenAi(page);
  expect((await chat(page.request, key, {})).status()).toBe(200);

  const plain = await browser.newContext({ javaScriptEnabled: false, storageState: await page.context().storageState() });
  const noScript = await plain.newPage();
  await expect(async () => {
    await noScript.goto("/");
    await expect(noScript.getByTestId("request-count")).toHaveText("1", { timeout: 1_000 });
  }).toPass({ timeout: VISIBLE_WITHIN_MS });
  await expect(noScript.getByText("Loading…")).toHaveCount(0);
  await noScript.goto("/analytics");
  await expect(noScript.getByTestId("total-requests")).toHaveText("1");
  await expect(noScript.getByTestId("chart-requests")).toBeVisible();
  await noScript.goto("/keys");
  await expect(noScript.getByTestId("key-row")).toHaveCount(1);
  // Forms post and come back with their answer: Create key shows the new secret once, and it
  // works on /v1.
  await noScript.getByLabel("Key name").fill("no script");
  await noScript.getByRole("button", { name: "Create key" }).click();
  await expect(noScript).toHaveURL(/\/keys/);
  const secret = (await noScript.getByTestId("new-key").textContent())?.trim() ?? "";
  expect(secret).toMatch(/^gw_[A-Za-z0-9]{40}$/);
  await expect(noScript.getByTestId("key-row")).toHaveCount(2);
  expect((await chat(page.request, secret, {})).status()).toBe(200);
  await noScript.reload();
  await expect(noScript.getByTestId("key-row")).toHaveCount(2);
  await expect(noScript.getByTestId("new-key")).toHaveCount(0);
  // A refused form (a wrong password) is worded on the page it came from.
  const visitor = await (await browser.newContext({ javaScriptEnabled: false })).newPage();
  await visitor.goto("/login");
  await visitor.getByLabel("Email").fill("nobody@example.com");
  await visitor.getByLabel("Password").fill("not the password 1");
  await visitor.getByRole("button", { name: "Log in" }).click();
  await expect(visitor).toHaveURL(/\/login\?/);
  await expect(visitor.getByRole("alert")).toContainText("Wrong email or password");
  await visitor.context().close();
  await plain.close();
});

test("at phone width (390 px) no page scrolls sideways, long names included", async ({ page }) => {
  await signUp(page, "phone");
  await page.goto("/keys");
  await hydrated(page);
  await page.getByLabel("Key name").fill("k".repeat(100));
  await page.getByRole("button", { name: "Create key" }).click();
  await expect(page.getByTestId("new-key")).toBeVisible();
  await addFakeOpenAi(page);
  await page.setViewportSize({ width: 390, height: 844 });
  for (const path of ["/", "/keys", "/providers", "/routing", "/analytics", "/members", "/billing"]) {
    // The layout is the stylesheet's: the page as the server sent it, no need to wait for WASM.
    await page.goto(path);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow, `${path} scrolls sideways by ${overflow}px`).toBeLessThanOrEqual(0);
    await expect(page.getByRole("button", { name: "Log out" })).toBeInViewport();
  }
  await page.goto("/keys");
  await expect(page.getByTestId("key-row")).toContainText("k".repeat(20));
});

test("a page of another build is not hydrated by this script: it says so and keeps working", async ({ page }) => {
  // As if the server and its site files came from two different builds.
  await page.route("**/login", async (route) => {
    const response = await route.fetch();
    const body = (await response.text()).replace(
      /(<meta name="llm-gateway-build" content=")[0-9a-f]+/,
      "$1ffffffffffffffff",
    );
    await route.fulfill({ response, body });
  });
  const logged: string[] = [];
  page.on("console", (message) => logged.push(message.text()));
  await page.goto("/login");
  await expect(page.getByTestId("build-mismatch")).toContainText("another build of LLM Gateway");
  await expect(page.locator("body")).not.toHaveAttribute("data-hydrated", "true");
  expect(logged.join("\n")).toContain("not hydrating");
  // The server-rendered page is still there, its form a plain form.
  await expect(page.getByRole("button", { name: "Log in" })).toBeVisible();
  await page.unroute("**/login");
  // The same page as the server sends it hydrates.
  await page.goto("/login");
  await hydrated(page);
  await expect(page.getByTestId("build-mismatch")).toHaveCount(0);
});
