// Deploy: one confirmation listing the plan, the outcomes, the banner's states,
// the favicon badge while Jenkins runs, and relative times that tick.
import assert from "node:assert/strict";
import { test } from "node:test";
import { NOW, ago, calls, errorsRegion, fake, messages, pr, ready, seeText, status, until, withPage } from "./harness.mjs";

const pending = (o = {}) =>
  status({
    prs: [pr(1), pr(2, { liveNow: false, isNew: false, action: "CHANGE_KIND_ADD" })],
    hasPending: true,
    pendingChanges: [{ number: 2, title: "PR number 2", kind: "CHANGE_KIND_ADD", detail: "2aaaaaa" }],
    ...o,
  });

const dialog = (page) => page.getByTestId("confirm-deploy");

test("Deploy asks once, listing the plan; Cancel sends nothing", async () => {
  await withPage({ status: pending() }, async (page) => {
    await ready(page);
    await page.getByTestId("deploy").click();
    await dialog(page).getByRole("heading", { name: "Deploy 1 change to testing?" }).waitFor();
    await seeText(dialog(page), "Add #2 PR number 2 2aaaaaa");
    await dialog(page).getByRole("button", { name: "Cancel" }).click();
    await dialog(page).waitFor({ state: "hidden" });
    // Escape cancels too.
    await page.getByTestId("deploy").click();
    await dialog(page).getByRole("heading", { name: /^Deploy 1 change/ }).waitFor();
    await page.keyboard.press("Escape");
    await dialog(page).waitFor({ state: "hidden" });
    assert.deepEqual(await calls(page, "deploy"), []);
  });
});

test("a confirmed deploy sends the confirmed version, and Jenkins' acceptance shows at once", async () => {
  await withPage({ status: pending() }, async (page) => {
    await ready(page);
    await page.getByTestId("deploy").click();
    await dialog(page).getByRole("button", { name: "Deploy" }).click();
    await seeText(messages(page), "Deploy started: Jenkins accepted the build (1 change).");
    assert.equal(await messages(page).getByRole("link", { name: "Jenkins queue item" }).getAttribute("href"), "https://jenkins.invalid/queue/item/7/");
    assert.deepEqual(await calls(page, "deploy"), [{ expectedVersion: "v1" }]);
    await seeText(page.getByTestId("deploy-banner"), "Deploying, started now");
    await page.getByTestId("plan-empty").waitFor();
    assert.equal(await page.getByTestId("deploy").isDisabled(), true);
    // While Jenkins runs, the favicon has a badge and the title says so.
    await until(async () => (await page.locator('link[rel~="icon"]').getAttribute("data-badge")) === "deploying", "favicon badge");
    assert.match(await page.locator('link[rel~="icon"]').getAttribute("href"), /^data:image\/svg\+xml,/);
    assert.match(await page.title(), /^⏳ Deploying · Open Library server status$/);
    // Jenkins finishes (the stream says so): badge and title restored.
    await fake(page, (f) => f.setStatus({ ...f.status.toJSON?.(), version: "v9", githubRepo: "internetarchive/openlibrary", jenkinsConfigured: true, deployResult: "SUCCESS", deployRunId: "412", lastDeployAt: new Date().toISOString(), deployFinishedAt: new Date().toISOString() }));
    await seeText(page.getByTestId("deploy-banner"), "Deploy #412 succeeded now");
    await until(async () => (await page.locator('link[rel~="icon"]').getAttribute("data-badge")) === null, "badge gone");
    assert.match(await page.locator('link[rel~="icon"]').getAttribute("href"), /^assets\/favicon-[0-9a-f]+\.svg$/);
    assert.equal(await page.title(), "Open Library server status");
  });
});

test("deploy unconfigured: the set advances and the page says nothing was deployed", async () => {
  await withPage({ status: pending({ jenkinsConfigured: false }) }, async (page) => {
    await ready(page);
    await seeText(page.getByTestId("deploy-banner"), "Deploy is not configured on this instance");
    await page.getByTestId("deploy").click();
    await seeText(dialog(page), "the set advances, but nothing is deployed");
    await dialog(page).getByRole("button", { name: "Deploy" }).click();
    await seeText(messages(page), "Deploy is not configured on this instance — the testing set was advanced, but nothing was deployed.");
  });
});

test("Jenkins refusing the build: a specific error, the plan still there", async () => {
  await withPage({ status: pending() }, async (page) => {
    await ready(page);
    await fake(page, (f) => f.fail("deploy", "Unavailable", "Jenkins is unavailable; nothing was changed, try again shortly"));
    await page.getByTestId("deploy").click();
    await dialog(page).getByRole("button", { name: "Deploy" }).click();
    await seeText(errorsRegion(page), "Jenkins did not accept the build — nothing was lost.");
    await seeText(errorsRegion(page), "Jenkins is unavailable; nothing was changed, try again shortly");
    await seeText(page.getByTestId("plan-heading"), "1 change will be applied");
    assert.equal(await page.getByTestId("deploy").isEnabled(), true, "retryable");
  });
});

test("a plan that changed while the dialog was open: ABORTED, re-sync, try again", async () => {
  await withPage({ status: pending() }, async (page) => {
    await ready(page);
    await page.getByTestId("deploy").click();
    await fake(page, (f) => f.externalChange(false, "Sneaky change"));
    await dialog(page).getByRole("button", { name: "Deploy" }).click();
    await seeText(errorsRegion(page), "Someone else changed the testing set — the page now shows their change; try again.");
    await page.locator('[data-testid="pr-row-99999"]').waitFor();
    assert.equal((await calls(page, "getStatus")).length, 1, "re-synced with GetStatus");
  });
});

const banner = (o) => ({ status: status({ prs: [pr(1)], ...o }) });

test("the banner: never, last deploy, deploying with stage, succeeded, failed, aborted, guessed", async () => {
  const cases = [
    [{ lastDeployAt: undefined }, "Never deployed", "never"],
    [{ lastDeployAt: ago(5) }, "Last deploy 5 minutes ago", "deployed"],
    [{ deploying: true, deployStartedAt: ago(3), deployStage: "Build images", deployRunId: "413" }, "Deploying #413, started 3 minutes ago — Build images", "deploying"],
    [{ deployResult: "SUCCESS", deployFinishedAt: ago(120) }, "Deploy succeeded 2 hours ago", "succeeded"],
    [{ deployResult: "FAILURE", deployFinishedAt: ago(2 * 24 * 60), deployRunId: "9" }, "Deploy #9 failed 2 days ago", "failed"],
    [{ deployResult: "ABORTED", deployFinishedAt: ago(1) }, "Deploy was aborted 1 minute ago", "failed"],
    [{ deploying: true, deployStartedAt: ago(2), deployStateGuessed: true }, "“deploying” is a guess", "deploying"],
  ];
  for (const [o, text, state] of cases) {
    await withPage(banner(o), async (page) => {
      await seeText(page.getByTestId("deploy-banner"), text);
      assert.equal(await page.getByTestId("deploy-banner").getAttribute("data-state"), state);
      assert.equal(await page.getByRole("link", { name: /View Jenkins/ }).getAttribute("target"), "_blank");
    });
  }
});

test("relative times tick", async () => {
  await withPage(banner({ lastDeployAt: ago(0.5) }), async (page) => {
    await ready(page);
    await page.clock.pauseAt(NOW + 10_000);
    await seeText(page.getByTestId("deploy-banner"), "Last deploy 40 seconds ago");
    await page.clock.fastForward(60_000);
    await seeText(page.getByTestId("deploy-banner"), "Last deploy 2 minutes ago");
    await page.clock.fastForward(3_600_000);
    await seeText(page.getByTestId("deploy-banner"), "Last deploy 1 hour ago");
    const time = page.getByTestId("deploy-banner").locator("time");
    assert.equal(await time.getAttribute("title"), "2026-08-06 15:59 UTC");
  });
});
