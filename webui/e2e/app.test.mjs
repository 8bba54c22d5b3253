// End-to-end: the real testingd binary (internal/e2eserver runs it against fake
// GitHub and Jenkins), its embedded web UI, and headless Debian Chromium. Each test
// gets a fresh world (12 PRs in every state a row can be in, see e2eserver) and
// waits on DOM conditions, never on fixed sleeps. Run by `npm run e2e`.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { deepText, seeText, until } from "../test/dom.mjs";
import { axe, browser, startWorld } from "./world.mjs";

let chromium;
before(async () => {
  chromium = await browser();
});
after(async () => {
  await chromium?.close();
});

const row = (page, n) => page.locator(`[data-testid="pr-row-${n}"]`);
const rows = (page) => page.locator("tr-pr-row");
const banner = (page) => page.getByTestId("deploy-banner");
const messages = (page) => page.getByTestId("messages");
const attr = (locator, name) => locator.getAttribute(name);
const prOf = (status, n) => status.prs.find((p) => p.number === n);

/** The PRs of the realistic world, as rows: 12 in the state file and 13111, removed since the deploy. */
const WORLD = [13111, 13238, 13240, 13245, 13251, 13256, 13260, 13262, 13265, 13269, 13271, 13274, 13370];

/**
 * Runs fn({world, page, open}) on a fresh world with the page loaded; `open()`
 * opens another page (a second client). Fails on any uncaught page error.
 */
async function withWorld(fn, { colorScheme = "light" } = {}) {
  const world = await startWorld();
  const pages = [];
  const errors = [];
  const open = async () => {
    const page = await chromium.context.newPage();
    pages.push(page);
    page.on("pageerror", (e) => errors.push(e));
    await page.emulateMedia({ colorScheme });
    await page.goto(world.url);
    await until(async () => (await rows(page).count()) >= WORLD.length, "the PR table", 15_000);
    return page;
  };
  try {
    const page = await open();
    await fn({ world, page, open });
    assert.deepEqual(errors.map(String), [], "uncaught errors in the page");
  } catch (e) {
    if (process.env.E2E_VERBOSE) console.error(world.stderr());
    throw e;
  } finally {
    for (const p of pages) await p.close();
    await world.close();
  }
}

test("load: the real set is shown, every kind of row, the build and the server", async () => {
  await withWorld(async ({ page }) => {
    const numbers = await rows(page).evaluateAll((els) => els.map((el) => Number(el.dataset.testid.replace("pr-row-", ""))));
    assert.deepEqual([...numbers].sort(), WORLD);
    assert.equal(await attr(row(page, 13111), "data-state"), "removed");
    assert.equal(await attr(row(page, 13240), "data-state"), "merged");
    assert.equal(await attr(row(page, 13256), "data-state"), "closed");
    assert.equal(await attr(row(page, 13245), "data-state"), "in-set");
    // Drift comes from the fake GitHub through the real resolver.
    await until(async () => (await attr(row(page, 13238), "data-drift")) === "3", "13238 three commits behind", 10_000);
    assert.equal(await attr(row(page, 13271), "data-drift"), "diverged");
    assert.equal(await attr(row(page, 13245), "data-drift"), "0");
    // Staged in the state file: a pin move and a switch-off; new since the deploy.
    assert.equal(await attr(row(page, 13260), "data-staged"), "");
    assert.equal(await attr(row(page, 13262), "data-staged"), "");
    assert.equal(await attr(row(page, 13269), "data-new"), "");
    assert.equal(await attr(row(page, 13269), "data-live"), null);
    assert.equal(await attr(row(page, 13245), "data-live"), "");
    await seeText(row(page, 13238), "Fix search facets fallback");
    await seeText(row(page, 13370), "merge failed");
    assert.equal(await row(page, 13265).getByRole("switch").getAttribute("aria-checked"), "false");
    // The plan: what the next deploy does.
    await seeText(page.getByTestId("plan-heading"), "7 changes will be applied");
    // The banner: Jenkins' last run, from the fake's wfapi.
    assert.equal(await attr(banner(page), "data-state"), "succeeded");
    await seeText(banner(page), "Deploy #411 succeeded");
    // The build transcript: the conflict of #13370.
    const conflict = page.getByTestId("build").locator('tr[data-number="13370"]');
    await seeText(conflict, "merge conflict");
    await seeText(page.getByTestId("info"), "testingd");
    assert.equal(await page.getByTestId("offline-banner").count(), 0);
    // How testingd stands with GitHub: the fake's rate-limit headers and its last answer.
    const github = page.getByTestId("github-status");
    await seeText(github, "last answer");
    assert.match(await deepText(github), /^GitHub: [\d,]+ \/ [\d,]+ requests left · resets (\d\d:\d\d|\d{4}-\d\d-\d\d \d\d:\d\d) UTC · /);
    assert.equal(await page.getByTestId("github-budget-low").count(), 0);
  });
});

test("add a batch: one result per ref, the rows appear", async () => {
  await withWorld(async ({ world, page }) => {
    const input = page.getByRole("textbox", { name: "Add PRs" });
    await input.fill("13300, #13301 https://github.com/internetarchive/openlibrary/pull/13302");
    await page.getByRole("button", { name: "Add PRs" }).click();
    const results = page.getByTestId("add-results").locator("li");
    await until(async () => (await results.count()) === 3, "three results", 10_000);
    assert.deepEqual(await results.evaluateAll((els) => els.map((el) => el.dataset.outcome)), ["ADDED", "ADDED", "NOT_OPEN"]);
    await seeText(results.nth(0), "13300");
    await seeText(results.nth(1), "13301");
    await seeText(results.nth(2), "13302");
    // The ref that failed stays in the box, to be fixed and sent again.
    assert.equal(await input.inputValue(), "https://github.com/internetarchive/openlibrary/pull/13302");
    await row(page, 13300).waitFor();
    await seeText(row(page, 13300), "Cover upload: accept HEIC files");
    assert.equal(await attr(row(page, 13301), "data-new"), "");
    assert.equal(await row(page, 13302).count(), 0);
    // The server has them.
    const s = await world.rpc("GetStatus");
    assert.ok(prOf(s, 13300)?.inSet && prOf(s, 13301)?.inSet);
    assert.equal(prOf(s, 13302), undefined);
  });
});

test("stage: switch a row off, Update a drifted row, Unstage", async () => {
  await withWorld(async ({ world, page }) => {
    const sw = row(page, 13245).getByRole("switch", { name: "PR #13245 on testing after the next deploy" });
    assert.equal(await sw.getAttribute("aria-checked"), "true");
    await sw.click();
    await until(async () => (await sw.getAttribute("aria-checked")) === "false", "switched off");
    assert.equal(await attr(row(page, 13245), "data-staged"), "");
    await seeText(page.getByTestId("plan"), "#13245");

    const update = row(page, 13238).getByRole("button", { name: "Update #13238 to its latest commit" });
    await update.click();
    await update.waitFor({ state: "detached" });
    assert.equal(await attr(row(page, 13238), "data-staged"), "");

    let s = await world.rpc("GetStatus");
    assert.equal(prOf(s, 13245).pendingActive, false);
    assert.equal(prOf(s, 13238).pullLatestSha, prOf(s, 13238).headSha);
    await seeText(row(page, 13238), `→${prOf(s, 13238).headSha.slice(0, 7)}`);

    await row(page, 13238).getByRole("button", { name: "Unstage the changes to #13238" }).click();
    await until(async () => (await attr(row(page, 13238), "data-staged")) === null, "unstaged");
    s = await world.rpc("GetStatus");
    assert.equal(prOf(s, 13238).pullLatestSha ?? "", "");
  });
});

test("remove and Undo", async () => {
  await withWorld(async ({ world, page }) => {
    await row(page, 13251).getByRole("button", { name: "Remove #13251" }).click();
    await until(async () => (await attr(row(page, 13251), "data-state")) === "removed", "removed");
    const undo = page.getByTestId("notice-undo");
    await seeText(undo, "Removed #13251. You can undo this until the next deploy.");
    assert.equal(prOf(await world.rpc("GetStatus"), 13251).inSet ?? false, false);
    await undo.getByRole("button", { name: "Undo" }).click();
    await until(async () => (await attr(row(page, 13251), "data-state")) === "in-set", "back in the set");
    await undo.waitFor({ state: "detached" });
    assert.equal(prOf(await world.rpc("GetStatus"), 13251).inSet, true);
  });
});

test("deploy: confirm, Jenkins gets the trigger, the banner follows the run", async () => {
  await withWorld(async ({ world, page }) => {
    const dialog = page.getByTestId("confirm-deploy");
    await page.getByTestId("deploy").click();
    await dialog.getByRole("heading", { name: "Deploy 7 changes to testing?" }).waitFor();
    await seeText(dialog, "#13269");
    assert.deepEqual(await world.triggers(), [], "nothing before the confirmation");
    await dialog.getByRole("button", { name: "Deploy" }).click();
    await seeText(messages(page), "Deploy started: Jenkins accepted the build (7 changes).");

    const triggers = await world.triggers();
    assert.equal(triggers.length, 1);
    assert.equal(triggers[0].Token, "e2e-jenkins-token");
    assert.equal(triggers[0].Status, 201);
    for (const n of [13238, 13245, 13260, 13269, 13271, 13370]) assert.match(triggers[0].Lines, new RegExp(`\\b${n}\\b`), `#${n} deployed`);
    for (const n of [13240, 13256, 13262, 13265, 13111]) assert.doesNotMatch(triggers[0].Lines, new RegExp(`\\b${n}\\b`), `#${n} not deployed`);

    // Queued: the deploy started after Jenkins' last run.
    await until(async () => (await attr(banner(page), "data-state")) === "deploying", "deploying");
    await page.getByTestId("plan-empty").waitFor();
    assert.equal(await page.getByTestId("deploy").isDisabled(), true);
    // The merged, closed and dropped rows are gone; the disabled one is off.
    await row(page, 13240).waitFor({ state: "detached" });
    await row(page, 13111).waitFor({ state: "detached" });
    assert.equal(await row(page, 13262).getByRole("switch").getAttribute("aria-checked"), "false");

    // Jenkins runs the build, then finishes it: the page follows without a reload.
    await world.jenkins("IN_PROGRESS");
    await until(async () => (await deepText(banner(page))).includes("Deploying #412"), "run #412 running", 20_000);
    await world.jenkins("SUCCESS");
    await until(async () => (await attr(banner(page), "data-state")) === "succeeded", "succeeded", 20_000);
    await seeText(banner(page), "Deploy #413 succeeded");
  });
});

test("a second client's changes appear without a reload", async () => {
  await withWorld(async ({ world, page, open }) => {
    await page.evaluate(() => (window.__sameDocument = true));
    // Another client (the CLI, a bot) calls the API.
    await world.rpc("AddPRs", { refs: ["13300"] });
    await row(page, 13300).waitFor({ timeout: 10_000 });
    // A second browser tab switches a PR off and removes another.
    const other = await open();
    await row(other, 13274).getByRole("switch").click();
    await row(other, 13251).getByRole("button", { name: "Remove #13251" }).click();
    const sw = row(page, 13274).getByRole("switch");
    await until(async () => (await sw.getAttribute("aria-checked")) === "false", "the other tab's switch-off", 10_000);
    await until(async () => (await attr(row(page, 13251), "data-state")) === "removed", "the other tab's removal", 10_000);
    assert.equal(await page.evaluate(() => window.__sameDocument), true, "no reload");
    // And the first page's write, made on the version it now shows, goes through.
    await row(page, 13251).getByRole("button", { name: "Undo the removal of #13251" }).click();
    await until(async () => (await attr(row(other, 13251), "data-state")) === "in-set", "restored, seen in the other tab", 10_000);
    assert.equal(await page.getByTestId("errors").locator("li").count(), 0, "no conflict error");
  });
});

test("offline and reconnect: testingd stops, the page says so; it restarts, the page is live again", async () => {
  await withWorld(async ({ world, page }) => {
    await page.evaluate(() => (window.__sameDocument = true));
    await world.stopServer();
    const offline = page.getByTestId("offline-banner");
    await offline.waitFor({ timeout: 10_000 });
    await seeText(offline, "Live updates stopped; the page shows the last known state.");
    assert.equal(await rows(page).count(), WORLD.length, "the last known set stays on screen");

    await world.startServer();
    await offline.waitFor({ state: "detached", timeout: 30_000 });
    assert.equal(await rows(page).count(), WORLD.length);
    // The stream is back: a change made now shows up.
    await world.rpc("StagePRs", { numbers: [13274], stage: "STAGE_DISABLE" });
    await until(async () => (await row(page, 13274).getByRole("switch").getAttribute("aria-checked")) === "false", "a change after the restart", 10_000);
    assert.equal(await page.evaluate(() => window.__sameDocument), true, "no reload");
  });
});

for (const colorScheme of ["light", "dark"]) {
  test(`axe-core on the real page: no serious or critical violations (${colorScheme})`, async () => {
    await withWorld(
      async ({ page }) => {
        await until(async () => (await attr(row(page, 13238), "data-drift")) === "3", "drift resolved", 10_000);
        await page.getByTestId("history").getByText("History", { exact: true }).click();
        assert.deepEqual(await axe(page), []);
      },
      { colorScheme },
    );
  });
}
