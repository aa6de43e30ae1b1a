import { expect, type APIRequestContext, type Page } from "@playwright/test";
import { fakeOpenAiBaseUrl, mailboxUrl } from "../playwright.config";

/** How soon a request shows in analytics, the request log and the dashboard: the product's promise
 * ("visible within a minute"). It usually takes a second or two (usage is written in batches), but
 * the tests share two cores with the other suites: a CI run on a slower machine once failed the
 * first two analytics tests, at the busiest start of the run, one of them past its 60 s test
 * timeout (not reproduced here, even on one core beside two busy loops). */
export const VISIBLE_WITHIN_MS = 60_000;

/** Waits for the WASM to hydrate the page: the debug build is ~18 MB, and beside the Rust suite on
 * two cores compiling it has taken longer than the default 10 s. */
export async function hydrated(page: Page) {
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true", { timeout: 30_000 });
}

/** Signs up a new account (Free) and returns its email. */
export async function signUp(page: Page, prefix: string): Promise<string> {
  const email = `${prefix}-${Date.now()}@example.com`;
  await page.goto("/signup");
  await hydrated(page);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("a sturdy passphrase 42");
  await page.getByRole("button", { name: "Sign up" }).click();
  await expect(page.getByTestId("signup-sent")).toContainText(email);
  await confirmEmail(page, email);
  return email;
}

/** The first link in the newest e-mail to `to` that contains `path` (read from the SMTP catcher). */
export async function linkInMail(page: Page, to: string, path: string): Promise<string> {
  let link = "";
  await expect
    .poll(async () => {
      const response = await page.request.get(mailboxUrl);
      const messages: { to: string[]; text: string }[] = await response.json();
      const mine = messages.filter((m) => m.to.includes(to) && m.text.includes(path));
      const found = mine.at(-1)?.text.match(/https?:\/\/\S+/);
      link = found?.[0] ?? "";
      return link;
    })
    .toContain(path);
  return link;
}

/** Follows the confirmation link e-mailed at sign-up, which logs in. */
export async function confirmEmail(page: Page, email: string) {
  await page.goto(await linkInMail(page, email, "/verify?token="));
  await hydrated(page);
  await page.getByRole("button", { name: "Confirm my address" }).click();
  await expect(page.getByTestId("confirmed")).toBeVisible();
}

/** Creates a gateway key on the Keys page and returns it. */
export async function createKey(page: Page): Promise<string> {
  await page.goto("/keys");
  await hydrated(page);
  await page.getByLabel("Key name").fill("e2e");
  await page.getByRole("button", { name: "Create key" }).click();
  const key = (await page.getByTestId("new-key").textContent())?.trim() ?? "";
  expect(key).toMatch(/^gw_[A-Za-z0-9]{40}$/);
  return key;
}

/** Adds the fake OpenAI as the account's provider. */
export async function addFakeOpenAi(page: Page) {
  await page.goto("/providers");
  await hydrated(page);
  await page.getByTestId("toggle-add-provider").click();
  const form = page.getByTestId("add-provider-form");
  await form.getByLabel("API key").fill("sk-e2e-provider-key-98765");
  await form.getByLabel("Base URL (optional)").fill(fakeOpenAiBaseUrl);
  await form.getByRole("button", { name: "Save provider" }).click();
  await expect(page.getByTestId("provider-row")).toHaveCount(1);
}

export function chat(request: APIRequestContext, key: string, body: object) {
  return request.post("/v1/chat/completions", {
    headers: { Authorization: `Bearer ${key}` },
    data: { model: "gpt-4o-mini", messages: [{ role: "user", content: "Hello from the browser test" }], ...body },
  });
}
