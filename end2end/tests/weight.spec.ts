import { expect, test, type Page } from "@playwright/test";
import { hydrated, signUp } from "./helpers";

/** What one page load moved over the network, read from Chromium's own accounting (CDP):
 * bytes as they came over the wire (headers and compressed bodies), per URL. */
async function measure(page: Page, load: () => Promise<void>) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.enable");
  const responses = new Map<string, { url: string; headers: Record<string, string> }>();
  const wire = new Map<string, number>();
  cdp.on("Network.responseReceived", (event) => {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(event.response.headers)) {
      headers[name.toLowerCase()] = String(value);
    }
    responses.set(event.requestId, { url: event.response.url, headers });
  });
  cdp.on("Network.loadingFinished", (event) => wire.set(event.requestId, event.encodedDataLength));
  await load();
  await hydrated(page);
  await cdp.detach();
  const loaded = [...wire.entries()].map(([id, bytes]) => ({
    bytes,
    url: responses.get(id)?.url ?? "",
    headers: responses.get(id)?.headers ?? {},
  }));
  return {
    loaded,
    total: loaded.reduce((sum, { bytes }) => sum + bytes, 0),
    site: loaded.filter(({ url }) => new URL(url).pathname.startsWith("/pkg/")),
  };
}

// The portal's first interactive load is its WASM above all. The files go out compressed and
// named by their digest, so a browser keeps them: the next page loads none of them again.
// `WEIGHT_LIMIT_BYTES` (set by bench/portal-weight.sh, which serves a release site) holds the
// first load to the goal; the debug site the tests build is ~18 MB before compression.
test("the dashboard's first load is compressed and the next page fetches no site file again", async ({ page, browser }) => {
  await signUp(page, "weight");
  // A browser that has never seen the portal, with the session of the one that signed up.
  const context = await browser.newContext();
  await context.addCookies(await page.context().cookies());
  const fresh = await context.newPage();

  const first = await measure(fresh, async () => {
    await fresh.goto("/");
  });
  await expect(fresh.getByRole("heading", { name: "Dashboard" })).toBeVisible();
  const names = first.site.map(({ url }) => new URL(url).pathname);
  for (const file of ["llm-gateway.js", "llm-gateway.wasm", "llm-gateway.css"]) {
    expect(names.filter((name) => name.endsWith(`/${file}`)), file).toHaveLength(1);
  }
  for (const { url, headers } of first.site) {
    expect(new URL(url).pathname, url).toMatch(/^\/pkg\/[0-9a-f]{16}\//);
    expect(headers["content-encoding"], url).toBe("br");
    expect(headers["cache-control"], url).toBe("public, max-age=31536000, immutable");
  }
  const wasm = first.site.find(({ url }) => url.endsWith(".wasm"))!;
  console.log(
    `first load of the dashboard: ${first.total} bytes over the wire in ${first.loaded.length} ` +
      `responses (WASM ${wasm.bytes})`,
  );
  const limit = Number(process.env.WEIGHT_LIMIT_BYTES ?? "0");
  if (limit > 0) {
    expect(first.total, "the first interactive load").toBeLessThanOrEqual(limit);
  }

  // Another page, loaded whole: hydrated from the files the browser kept, none fetched again
  // (not even a revalidation's 304).
  const next = await measure(fresh, async () => {
    await fresh.goto("/keys");
  });
  await expect(fresh.getByRole("heading", { name: "Gateway keys" })).toBeVisible();
  expect(next.site.reduce((sum, { bytes }) => sum + bytes, 0), JSON.stringify(next.site)).toBe(0);
  await context.close();
});
