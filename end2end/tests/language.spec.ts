import { expect, test } from "@playwright/test";
import { hydrated, linkInMail } from "./helpers";

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

test("refusals are worded in the reader's language, and again after a switch", async ({ page }) => {
  await page.goto("/signup");
  await hydrated(page);
  const email = `es-${Date.now()}@example.com`;
  await page.getByLabel("Correo").fill(email);
  await page.getByLabel("Contraseña").fill("corta");
  await page.getByRole("button", { name: "Registrarme" }).click();
  await expect(page.getByRole("alert")).toHaveText("Elige una contraseña de al menos 10 caracteres.");
  // The server answered with the problem, not a sentence: switching words it again.
  await page.getByRole("button", { name: "English" }).click();
  await expect(page.getByRole("alert")).toHaveText("Choose a password of at least 10 characters.");
  await page.getByRole("button", { name: "Español" }).click();

  await page.getByLabel("Contraseña").fill("una frase de paso sólida 42");
  await page.getByRole("button", { name: "Registrarme" }).click();
  await expect(page.getByTestId("signup-sent")).toContainText("Revisa tu correo");
  await page.goto(await linkInMail(page, email, "/verify?token="));
  await hydrated(page);
  await page.getByRole("button", { name: "Confirmar mi dirección" }).click();
  await expect(page.getByTestId("confirmed")).toContainText("ya iniciaste sesión");
  await page.goto("/");
  await expect(page.getByRole("heading", { name: "Panel" })).toBeVisible();
  await page.goto("/analytics");
  await hydrated(page);
  await expect(page.getByRole("link", { name: "Exportar CSV" })).toBeVisible();
  await expect(page.getByText("Sin solicitudes en este periodo.").first()).toBeVisible();
  await expect(page.getByTestId("chart-requests")).toContainText("Solicitudes");
  // The charts' plain-string texts are drawn again on a switch, like the rest of the page.
  await page.getByRole("button", { name: "English" }).click();
  await expect(page.getByRole("link", { name: "Export CSV" })).toBeVisible();
  await expect(page.getByTestId("chart-requests")).toContainText("Requests");
  await expect(page.getByTestId("chart-requests")).not.toContainText("Solicitudes");
  await page.getByRole("button", { name: "Español" }).click();
  await expect(page.getByTestId("chart-requests")).toContainText("Solicitudes");
  await page.goto("/routing");
  await hydrated(page);
  await expect(page.getByRole("button", { name: "Guardar el enrutamiento" })).toBeVisible();
  await page.getByRole("button", { name: "Guardar el enrutamiento" }).click();
  await expect(page.getByRole("status")).toHaveText("Guardado.");
  await page.goto("/billing");
  await expect(page.getByRole("heading", { name: "Plan y facturación" })).toBeVisible();
  await expect(page.getByRole("columnheader", { name: "Claves de la pasarela" })).toBeVisible();
  await expect(page.getByTestId("plan-price").nth(1)).toHaveText("20\u00a0US$ / mes");
});
