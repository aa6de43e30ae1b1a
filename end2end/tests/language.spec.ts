import { expect, test } from "@playwright/test";
import { hydrated } from "./helpers";

test.use({ locale: "es-ES" });

test("the portal follows the browser's language, and the switch is remembered", async ({ page }) => {
  await page.goto("/login");
  await hydrated(page);
  await expect(page.getByRole("heading", { name: "Inicia sesión en LLM Gateway" })).toBeVisible();
  await expect(page.getByRole("button", { name: "Iniciar sesión" })).toBeVisible();

  await page.getByRole("button", { name: "English" }).click();
  await expect(page.getByRole("heading", { name: "Log in to LLM Gateway" })).toBeVisible();
  await page.reload();
  await hydrated(page);
  await expect(page.getByRole("heading", { name: "Log in to LLM Gateway" })).toBeVisible();

  await page.getByRole("button", { name: "Español" }).click();
  await expect(page.getByRole("link", { name: "¿Olvidaste tu contraseña?" })).toBeVisible();
});
