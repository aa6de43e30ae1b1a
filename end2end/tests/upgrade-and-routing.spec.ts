import { expect, test } from "@playwright/test";
import { addFakeOpenAi, chat, createKey, hydrated, signUp } from "./helpers";

test("a Free user upgrades through Checkout, the plan shows Pro, and streaming then works", async ({ page, request }) => {
  await signUp(page, "upgrade");
  const key = await createKey(page);
  await addFakeOpenAi(page);

  // Free does not stream.
  const refused = await chat(request, key, { stream: true });
  expect(refused.status()).toBe(403);
  expect((await refused.json()).error.message).toContain("needs Pro");

  await page.getByRole("link", { name: "Plan" }).click();
  await hydrated(page);
  await expect(page.getByTestId("current-plan")).toHaveText("Free");
  // Prices as Stripe has them (the fake's price_e2e_pro and price_e2e_enterprise).
  await expect(page.getByTestId("plan-price")).toHaveText(["$0", "$20 / month", "$500 / month"]);
  await page.getByRole("button", { name: "Upgrade to Pro" }).click();

  // The fake Stripe's hosted Checkout page; paying sends the signed webhooks to the gateway.
  await expect(page).toHaveURL(/127\.0\.0\.1:3902\/checkout\/cs_test_/);
  await page.getByRole("button", { name: "Pay and subscribe" }).click();
  await expect(page).toHaveURL(/\/billing\/success\?session_id=cs_test_/);
  await expect(page.getByRole("status")).toContainText("payment went through");

  await page.goto("/billing");
  await expect(page.getByTestId("current-plan")).toHaveText("Pro");
  await expect(page.getByRole("button", { name: "Manage billing" })).toBeVisible();

  const streamed = await chat(request, key, { stream: true });
  expect(streamed.status()).toBe(200);
  expect(streamed.headers()["content-type"]).toContain("text/event-stream");
  expect(await streamed.text()).toContain("data: [DONE]");
});

test("routing overrides: a minimum tier saved on the Routing page shows in its preview and in /v1", async ({ page, request }) => {
  await signUp(page, "routing");
  const key = await createKey(page);
  await addFakeOpenAi(page);

  await page.getByRole("link", { name: "Routing" }).click();
  await hydrated(page);
  await page.getByLabel("Minimum tier").selectOption("strong");
  await page.getByRole("button", { name: "Save routing" }).click();
  await expect(page.getByRole("status")).toHaveText("Saved.");

  await page.getByLabel("A prompt, or a whole chat request as JSON").fill("hi");
  await page.getByRole("button", { name: "Preview route" }).click();
  await expect(page.getByTestId("preview-tier")).toHaveText("strong");
  const previewed = (await page.getByTestId("preview-model").textContent())?.trim();

  const routed = await chat(request, key, { model: "auto", messages: [{ role: "user", content: "hi" }] });
  expect(routed.status()).toBe(200);
  expect(routed.headers()["x-gateway-tier"]).toBe("strong");
  expect(routed.headers()["x-gateway-model"]).toBe(previewed);
});
