// End-to-end: an "Add to testing" link (what the README's bookmarklet opens) on the
// real testingd. The page opened with ?add= fills the form and changes nothing on
// the server until Add is pressed. Run by `npm run e2e`.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { seeText, until } from "../test/dom.mjs";
import { browser, startWorld } from "./world.mjs";

let chromium;
before(async () => {
  chromium = await browser();
});
after(async () => {
  await chromium?.close();
});

const row = (page, n) => page.locator(`[data-testid="pr-row-${n}"]`);
const numbers = (status) => status.prs.map((p) => p.number);

test("?add= link: the form is filled, nothing is added until the click, then the rows appear", async () => {
  const world = await startWorld();
  const page = await chromium.context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  try {
    const before = await world.rpc("GetStatus");
    // The realistic world: 13300 and 13301 are open on (fake) GitHub and not in the
    // set; 13269 is in it already. A PR URL, a bare number, and a repeated parameter.
    const url = "https://github.com/internetarchive/openlibrary/pull/13300";
    await page.goto(`${world.url}?add=${encodeURIComponent(url)},13301&add=%2313269`);
    const input = page.getByRole("textbox", { name: "Add PRs" });
    await until(async () => (await input.inputValue()) === `${url} 13301 #13269`, "the form filled from the link", 15_000);
    await row(page, 13269).waitFor({ timeout: 15_000 });
    await seeText(page.getByTestId("add-from-link"), "nothing is added until you press Add PRs");
    assert.equal(new URL(page.url()).search, "", "the link's refs leave the address bar");

    // Loaded, filled, and the server's set is as it was: opening a link writes nothing.
    const unchanged = await world.rpc("GetStatus");
    assert.equal(unchanged.version, before.version);
    assert.deepEqual(numbers(unchanged), numbers(before));
    assert.equal(await row(page, 13300).count(), 0);

    await page.getByRole("button", { name: "Add PRs" }).click();
    const results = page.getByTestId("add-results").locator("li");
    await until(async () => (await results.count()) === 3, "three results", 10_000);
    assert.deepEqual(await results.evaluateAll((els) => els.map((el) => el.dataset.outcome)), ["ADDED", "ADDED", "ALREADY_PRESENT"]);
    await row(page, 13300).waitFor();
    await seeText(row(page, 13300), "Cover upload: accept HEIC files");
    await seeText(row(page, 13301), "Lists: sort by date added");
    const after = await world.rpc("GetStatus");
    for (const n of [13300, 13301]) assert.ok(after.prs.some((p) => p.number === n && p.inSet), `#${n} in the set`);

    // A reload does not fill the form again.
    await page.reload();
    await row(page, 13300).waitFor({ timeout: 15_000 });
    assert.equal(await input.inputValue(), "");
    assert.deepEqual(errors.map(String), [], "uncaught errors in the page");
  } catch (e) {
    if (process.env.E2E_VERBOSE) console.error(world.stderr());
    throw e;
  } finally {
    await page.close();
    await world.close();
  }
});
