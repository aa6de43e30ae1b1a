import { expect, test } from "@playwright/test";
import { VISIBLE_WITHIN_MS, addFakeOpenAi, chat, createKey, hydrated, signUp } from "./helpers";

test("after a few requests the analytics chart shows them and the CSV export holds them", async ({ page, request }) => {
  await signUp(page, "analytics");
  const key = await createKey(page);
  await addFakeOpenAi(page);
  for (let i = 0; i < 3; i++) {
    expect((await chat(request, key, {})).status()).toBe(200);
  }

  // Usage is written in batches, usually within a second or two.
  await expect(async () => {
    await page.goto("/analytics?range=24h");
    await expect(page.getByTestId("total-requests")).toHaveText("3", { timeout: 1_000 });
  }).toPass({ timeout: VISIBLE_WITHIN_MS });

  // The requests chart is server-rendered SVG: its bars add up to the requests.
  const bars = page.getByTestId("chart-requests").locator("rect.bar");
  const values = await bars.evaluateAll((rects) => rects.map((r) => Number(r.getAttribute("data-value"))));
  expect(values.reduce((a, b) => a + b, 0)).toBe(3);
  await expect(page.getByRole("cell", { name: "openai/gpt-4o-mini" })).toBeVisible();
  // Free keeps 7 days: longer ranges are not offered.
  await expect(page.getByRole("link", { name: "7 days" })).toBeVisible();
  await expect(page.getByRole("link", { name: "30 days" })).toHaveCount(0);

  const csv = await page.request.get("/analytics/export.csv?range=24h");
  expect(csv.status()).toBe(200);
  expect(csv.headers()["content-type"]).toContain("text/csv");
  const lines = (await csv.text()).trim().split("\r\n");
  expect(lines[0]).toContain("time,key_id,provider,model");
  expect(lines.length).toBe(4);
  expect(lines[1]).toContain("openai,gpt-4o-mini");
  // What the same tokens cost on the baseline model, right after the cost; these requests pinned
  // their model, so the gateway claims no saving for them.
  const header = lines[0].split(",");
  const cost = header.indexOf("cost_usd");
  expect(header[cost + 1]).toBe("baseline_cost_usd");
  const saving = header.indexOf("saving_usd");
  const routed = header.indexOf("routed");
  for (const line of lines.slice(1)) {
    const cells = line.split(",");
    expect(Number(cells[cost + 1])).toBeGreaterThan(Number(cells[cost]));
    expect(Number(cells[saving])).toBe(0);
    expect(cells[routed]).toBe("false");
  }
  expect(await csv.text()).not.toContain("Hello from the browser test");

  // The dashboard names the baseline its savings are measured against, and their share.
  await page.goto("/");
  await expect(page.getByTestId("savings-claim")).toContainText("vs. openai/gpt-4o");
  await expect(page.getByTestId("savings-claim")).toContainText("on the 0 of 3 requests");
});

test("the analytics page, left open, shows a new request without a reload", async ({ page, request }) => {
  await signUp(page, "live");
  const key = await createKey(page);
  await addFakeOpenAi(page);
  expect((await chat(request, key, {})).status()).toBe(200);
  await expect(async () => {
    await page.goto("/analytics?range=24h");
    await expect(page.getByTestId("total-requests")).toHaveText("1", { timeout: 1_000 });
  }).toPass({ timeout: VISIBLE_WITHIN_MS });
  await hydrated(page);
  expect((await chat(request, key, {})).status()).toBe(200);
  await expect(page.getByTestId("total-requests")).toHaveText("2", { timeout: VISIBLE_WITHIN_MS });
});

test("the request log shows each request, an error included, and opens to what was done with it", async ({ page, request }) => {
  await signUp(page, "log");
  const key = await createKey(page);
  await addFakeOpenAi(page);
  const first = await chat(request, key, {});
  expect(first.status()).toBe(200);
  const requestId = first.headers()["x-request-id"];
  expect(requestId).toMatch(/^req_[0-9a-f]{16}$/);
  await page.goto("/requests");
  await hydrated(page);
  await expect(page.getByTestId("log-row")).toHaveCount(1, { timeout: VISIBLE_WITHIN_MS });
  // The open log updates itself: a provider's error and a refused request (a model nobody
  // serves, refused before routing) arrive without a reload.
  expect((await chat(request, key, { model: "openai/fake-error-429" })).status()).toBe(429);
  expect((await chat(request, key, { model: "no-such-model" })).status()).toBe(404);
  // A wrong secret behind this key's prefix: refused, and in this account's log.
  const forged = key.slice(0, 11) + "A".repeat(key.length - 11);
  expect((await chat(request, forged, {})).status()).toBe(401);
  await expect(page.getByTestId("log-row")).toHaveCount(4, { timeout: VISIBLE_WITHIN_MS });
  await expect(page.locator('[data-testid="log-row"][data-status="404"]')).toHaveCount(1);
  await expect(page.locator('[data-testid="log-row"][data-status="401"]')).toHaveCount(1);
  await expect(page.locator('[data-testid="log-row"][data-status="429"]')).toHaveCount(1);
  const served = page.locator('[data-testid="log-row"][data-status="200"]');
  await served.locator("summary").click();
  await expect(served).toContainText("openai/gpt-4o-mini");
  await expect(served).toContainText("Why this model");
  await expect(served.getByTestId("log-request-id")).toHaveText(requestId);
  // A filter is a plain GET form.
  await page.getByLabel("Status").selectOption("errors");
  await page.getByRole("button", { name: "Filter" }).click();
  await expect(page).toHaveURL(/status=errors/);
  await expect(page.getByTestId("log-row")).toHaveCount(3);
  // The time filter keeps the filters it is combined with.
  await page.getByLabel("Time").selectOption("1h");
  await page.getByRole("button", { name: "Filter" }).click();
  await expect(page).toHaveURL(/range=1h/);
  await expect(page.getByTestId("log-row")).toHaveCount(3);
  // The id a client logged finds its request.
  await page.goto("/requests");
  await page.getByLabel("Request id").fill(requestId);
  await page.getByRole("button", { name: "Filter" }).click();
  await expect(page.getByTestId("log-row")).toHaveCount(1);
  await expect(page.getByTestId("log-row")).toHaveAttribute("data-status", "200");
});
