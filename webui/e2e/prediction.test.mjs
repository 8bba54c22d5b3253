// End-to-end: the deploy prediction on the real testingd, run by internal/e2eserver
// with -git: a real upstream repository (internal/gittest) and its bare mirror as
// --git-dir, in which the new #13370 changes the same lines of status.py as #13208,
// and #13274 changes a template master has changed since. The page shows the
// warnings on those rows, the summary, the pairs, and the deploy confirmation says
// which PRs will not land; the deploy still goes to Jenkins. Run by `npm run e2e`.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { deepText, seeText, until } from "../test/dom.mjs";
import { axe, browser, startWorld } from "./world.mjs";

const STATUS_PY = "openlibrary/plugins/openlibrary/status.py";
const HOME = "openlibrary/templates/home.html";

let chromium;
before(async () => {
  chromium = await browser();
});
after(async () => {
  await chromium?.close();
});

const row = (page, n) => page.locator(`[data-testid="pr-row-${n}"]`);
const pill = (page, n) => row(page, n).getByTestId("prediction");

test("prediction: the rows that will not land, the summary, the pairs and the deploy confirmation", async () => {
  const world = await startWorld({ git: true });
  const page = await chromium.context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  try {
    await page.goto(world.url);
    await row(page, 13370).waitFor({ timeout: 15_000 });
    // The mirror fetches and git merges in the background: the warnings arrive on the stream.
    await seeText(pill(page, 13370), "will not land: conflicts with #13208", 30_000);
    assert.equal(await pill(page, 13370).getAttribute("data-kind"), "CONFLICTS_PR");
    assert.equal(await deepText(row(page, 13274).locator("summary")), "will not land: conflicts with master");
    for (const n of [13208, 13245]) assert.equal(await pill(page, n).count(), 0, `#${n} merges cleanly: no warning`);
    await row(page, 13370).locator("summary").click();
    await until(async () => (await pill(page, 13370).innerText()).endsWith(`in ${STATUS_PY}`), "the conflicting path shown");

    const summary = page.getByTestId("prediction-summary");
    await seeText(summary, "Prediction: 2 PRs will not land: #13274, #13370.");
    assert.equal(await summary.getAttribute("data-state"), "READY");
    assert.match(await summary.getAttribute("title"), /^Merged with git onto master at [0-9a-f]{7}, fetched \d{4}-\d\d-\d\d \d\d:\d\d UTC$/);

    // The pairs, from GetConflictMatrix (13274 conflicts with master on its own: no pairs with it).
    await page.getByTestId("check-pairs").click();
    const pairs = page.getByTestId("pairs").getByRole("listitem");
    await until(async () => (await pairs.count()) === 1, "one conflicting pair", 30_000);
    assert.equal(await pairs.textContent(), `#13208 and #13370 conflict in ${STATUS_PY}`);
    assert.deepEqual(await axe(page), []);

    // Deploy: the confirmation names what will not land, and deploying is still allowed.
    await page.getByTestId("deploy").click();
    const dialog = page.getByTestId("confirm-deploy");
    await dialog.getByRole("heading", { name: "Deploy 1 change to testing?" }).waitFor();
    assert.deepEqual(await dialog.getByRole("list", { name: "Predicted with git" }).getByRole("listitem").allTextContents(), [
      `#13274 will not land: conflicts with master in ${HOME}`,
      `#13370 will not land: conflicts with #13208 in ${STATUS_PY}`,
    ]);
    assert.deepEqual(await axe(page), []);
    await dialog.getByRole("button", { name: "Deploy" }).click();
    await seeText(page.getByTestId("messages"), "Deploy started: Jenkins accepted the build (1 change).", 15_000);
    assert.equal((await world.triggers()).length, 1);
    assert.deepEqual(errors.map(String), [], "uncaught errors in the page");
  } catch (e) {
    if (process.env.E2E_VERBOSE) console.error(world.stderr());
    throw e;
  } finally {
    await page.close();
    await world.close();
  }
});
