import { expect, test } from "@playwright/test";
import { hydrated, linkInMail, signUp } from "./helpers";

test("invite a member by e-mail; the member joins with the link and sees what the role allows", async ({ page, browser }) => {
  await signUp(page, "owner");

  // The owner invites a colleague as a member.
  const invitee = `member-${Date.now()}@example.com`;
  await page.goto("/members");
  await hydrated(page);
  const form = page.getByTestId("invite-form");
  await form.getByLabel("Email to invite").fill(invitee);
  await form.getByLabel("Role").selectOption("member");
  await form.getByRole("button", { name: "Invite" }).click();
  await expect(page.getByTestId("invited")).toContainText(invitee);
  // It waits in the list of invitations until the link is followed.
  await expect(page.getByTestId("pending-row").filter({ hasText: invitee })).toHaveCount(1);

  // The colleague, in a browser of their own, follows the e-mailed link.
  const link = await linkInMail(page, invitee, "/invite?token=");
  const context = await browser.newContext();
  const colleague = await context.newPage();
  await colleague.goto(link);
  await hydrated(colleague);
  await expect(colleague.getByTestId("invitation")).toContainText("to join as member");
  await colleague.getByLabel("Choose a password").fill("tall oak river 2026");
  await colleague.getByRole("button", { name: "Accept the invitation" }).click();
  await expect(colleague.getByRole("heading", { name: "Dashboard" })).toBeVisible();

  // A member makes keys of their own...
  await colleague.goto("/keys");
  await hydrated(colleague);
  await colleague.getByLabel("Key name").fill("colleague");
  await colleague.getByRole("button", { name: "Create key" }).click();
  await expect(colleague.getByTestId("new-key")).toHaveText(/^gw_/);
  await expect(colleague.getByTestId("key-row")).toHaveCount(1);
  // ...but manages neither providers nor members.
  await colleague.goto("/providers");
  await expect(colleague.getByRole("alert")).toContainText("Your role (member) does not allow this");
  await colleague.goto("/members");
  await expect(colleague.getByRole("alert")).toContainText("Your role (member) does not allow this");

  // The owner sees the member in the list, no longer as an invitation, and changes the role.
  await page.goto("/members");
  await hydrated(page);
  const row = page.getByTestId("member-row").filter({ hasText: invitee });
  await expect(row.getByLabel("Change role")).toHaveValue("member");
  await expect(page.getByTestId("pending-row")).toHaveCount(0);
  await expect(page.getByTestId("no-pending")).toBeVisible();
  await row.getByLabel("Change role").selectOption("viewer");
  await row.getByRole("button", { name: "Save" }).click();
  await expect(async () => {
    await page.goto("/members");
    await expect(page.getByTestId("member-row").filter({ hasText: invitee }).getByLabel("Change role")).toHaveValue("viewer", { timeout: 1_000 });
  }).toPass({ timeout: 10_000 });
  // A viewer reads but makes no keys.
  await colleague.goto("/keys");
  await hydrated(colleague);
  await colleague.getByLabel("Key name").fill("second");
  const alertsBefore = await colleague.getByRole("alert").count();
  await colleague.getByRole("button", { name: "Create key" }).click();
  await expect(colleague.getByRole("alert")).toHaveCount(alertsBefore + 1);
  await expect(colleague.getByRole("alert").last()).toContainText("Your role (viewer) does not allow this");
  await expect(colleague.getByTestId("new-key")).toHaveCount(0);
  await context.close();
});
