// Row actions, batch actions and the add form: each one RPC, with the version the
// page showed, and the returned status on screen at once.
import assert from "node:assert/strict";
import { test } from "node:test";
import { calls, errorsRegion, fake, messages, pr, ready, row, seeText, sha, status, until, withPage } from "./harness.mjs";

const set = () =>
  status({
    prs: [
      pr(1),
      pr(2, { drift: 2, headSha: sha(2, "b") }),
      pr(3, { active: false, liveNow: false }),
      pr(4),
      pr(5, { drift: 1, headSha: sha(5, "c") }),
    ],
  });

test("the switch stages enable/disable, sending the shown version; the row updates at once", async () => {
  await withPage({ status: set() }, async (page) => {
    await ready(page);
    const sw = row(page, 1).getByRole("switch");
    await sw.click();
    await until(async () => (await sw.getAttribute("aria-checked")) === "false", "switch off");
    assert.deepEqual(await calls(page, "stagePRs"), [{ numbers: [1], stage: "STAGE_DISABLE", expectedVersion: "v1" }]);
    await row(page, 1).getByTestId("hourglass").waitFor();
    await seeText(page.getByTestId("plan"), "Disable #1");
    // Clicking again un-stages: the next write carries the new version.
    const v2 = await fake(page, (f) => f.version);
    await sw.click();
    await until(async () => (await sw.getAttribute("aria-checked")) === "true", "switch on");
    assert.deepEqual((await calls(page, "stagePRs"))[1], { numbers: [1], stage: "STAGE_ENABLE", expectedVersion: v2 });
    await page.getByTestId("plan-empty").waitFor();
    // An inactive row switches on.
    await row(page, 3).getByRole("switch").click();
    await seeText(page.getByTestId("plan"), "Enable #3");
  });
});

test("Update stages the head; Unstage drops it", async () => {
  await withPage({ status: set() }, async (page) => {
    await ready(page);
    await row(page, 2).getByRole("button", { name: "Update #2 to its latest commit" }).click();
    await seeText(row(page, 2), "→2bbbbbb");
    assert.equal(await row(page, 2).getByTestId("update").count(), 0);
    await seeText(page.getByTestId("plan"), "Update pin #2");
    await row(page, 2).getByRole("button", { name: "Unstage the changes to #2" }).click();
    await page.getByTestId("plan-empty").waitFor();
    assert.deepEqual((await calls(page, "stagePRs")).map((c) => c.stage), ["STAGE_PULL_LATEST", "STAGE_UNSTAGE"]);
  });
});

test("Remove offers Undo until the next deploy; Undo restores the row", async () => {
  await withPage({ status: set() }, async (page) => {
    await ready(page);
    await row(page, 4).getByRole("button", { name: "Remove #4" }).click();
    // A live row stays listed as removed, with its own Undo.
    await until(async () => (await row(page, 4).getAttribute("data-state")) === "removed", "row 4 removed");
    await seeText(messages(page), "Removed #4. You can undo this until the next deploy.");
    await messages(page).getByRole("button", { name: "Undo" }).click();
    await until(async () => (await row(page, 4).getAttribute("data-state")) === "in-set", "row 4 back");
    const [restore] = await calls(page, "restorePRs");
    assert.deepEqual(restore.numbers, [4]);
    assert.match(restore.expectedVersion, /^v2-/, "the version after the removal");
    await until(async () => (await messages(page).getByRole("button", { name: "Undo" }).count()) === 0, "undo offer gone");

    // The row's own Undo works too.
    await row(page, 1).getByRole("button", { name: "Remove #1" }).click();
    await row(page, 1).getByRole("button", { name: "Undo the removal of #1" }).click();
    await until(async () => (await row(page, 1).getAttribute("data-state")) === "in-set", "row 1 back");

    // After a deploy the offer is gone.
    await row(page, 5).getByRole("button", { name: "Remove #5" }).click();
    await messages(page).getByRole("button", { name: "Undo" }).waitFor();
    await page.getByTestId("deploy").click();
    await page.getByTestId("confirm-deploy").getByRole("button", { name: "Deploy" }).click();
    await seeText(messages(page), "Deploy started");
    await until(async () => (await messages(page).getByRole("button", { name: "Undo" }).count()) === 0, "undo gone after deploy");
    assert.equal(await row(page, 5).count(), 0);
  });
});

test("a row that was never deployed disappears on Remove and comes back with Undo", async () => {
  await withPage({ status: status({ prs: [pr(7, { liveNow: false })] }) }, async (page) => {
    await ready(page);
    await row(page, 7).getByRole("button", { name: "Remove #7" }).click();
    await page.getByTestId("no-prs").waitFor();
    await messages(page).getByRole("button", { name: "Undo" }).click();
    await row(page, 7).waitFor();
  });
});

test("Refresh from GitHub evicts drift with the shown version", async () => {
  await withPage({ status: set() }, async (page) => {
    await ready(page);
    await page.getByRole("button", { name: "Refresh from GitHub" }).click();
    await until(async () => (await calls(page, "evictDrift")).length === 1, "EvictDrift");
    assert.deepEqual(await calls(page, "evictDrift"), [{ expectedVersion: "v1" }]);
    await seeText(page.getByTestId("drift-note"), "Drift checked now.");
  });
});

test("batch: select all, shift-click ranges, one RPC per bulk action", async () => {
  await withPage({ status: set() }, async (page) => {
    await ready(page);
    const count = page.getByTestId("selection-count");
    const box = (n) => row(page, n).getByRole("checkbox", { name: `Select #${n}` });
    const toolbar = page.getByRole("toolbar", { name: "Selected PRs" });
    assert.equal(await toolbar.getByRole("button", { name: "Enable" }).isDisabled(), true, "nothing selected: disabled");

    await page.getByRole("checkbox", { name: "Select all PRs" }).check();
    await seeText(count, "5 selected");
    await page.getByRole("checkbox", { name: "Select all PRs" }).uncheck();
    await seeText(count, "No PRs selected");

    // Click #1, shift-click #4: #1..#4 selected.
    await box(1).click();
    await box(4).click({ modifiers: ["Shift"] });
    await seeText(count, "4 selected");
    assert.equal(await box(5).isChecked(), false);
    assert.equal(await page.getByRole("checkbox", { name: "Select all PRs" }).evaluate((e) => e.indeterminate), true);
    // Shift-click #2 unchecking: #2..#4 leave the selection.
    await box(2).click({ modifiers: ["Shift"] });
    await seeText(count, "1 selected");
    assert.equal(await box(1).isChecked(), true);

    await page.getByRole("checkbox", { name: "Select all PRs" }).check();
    await toolbar.getByRole("button", { name: "Disable" }).click();
    await until(async () => (await calls(page, "stagePRs")).length === 1, "one StagePRs");
    assert.deepEqual(await calls(page, "stagePRs"), [{ numbers: [1, 2, 3, 4, 5], stage: "STAGE_DISABLE", expectedVersion: "v1" }]);
    // #3 was off already: the others applied, and the page says which did not.
    await seeText(messages(page), "4 of 5 applied.");
    await seeText(messages(page), "#3 is already switched off for the next deploy");

    await toolbar.getByRole("button", { name: "Enable" }).click();
    await toolbar.getByRole("button", { name: "Update" }).click();
    await toolbar.getByRole("button", { name: "Unstage" }).click();
    await until(async () => (await calls(page, "stagePRs")).length === 4, "four StagePRs");
    assert.deepEqual((await calls(page, "stagePRs")).map((c) => [c.stage, c.numbers.length]), [
      ["STAGE_DISABLE", 5], ["STAGE_ENABLE", 5], ["STAGE_PULL_LATEST", 5], ["STAGE_UNSTAGE", 5],
    ]);
    await toolbar.getByRole("button", { name: "Remove" }).click();
    await until(async () => (await calls(page, "removePRs")).length === 1, "one RemovePRs");
    assert.deepEqual((await calls(page, "removePRs"))[0].numbers, [1, 2, 3, 4, 5]);
    await seeText(messages(page), "Removed #1, #2, #3, #4, #5.");
    await seeText(count, "No PRs selected");
    // One undo brings them all back.
    await messages(page).getByRole("button", { name: "Undo" }).click();
    await until(async () => (await calls(page, "restorePRs")).length === 1, "one RestorePRs");
    assert.deepEqual((await calls(page, "restorePRs"))[0].numbers, [1, 2, 3, 4, 5]);
    await until(async () => (await page.locator('tr-pr-row[data-state="in-set"]').count()) === 5, "all back");
  });
});

test("Escape clears the selection", async () => {
  await withPage({ status: set() }, async (page) => {
    await ready(page);
    await page.getByRole("checkbox", { name: "Select all PRs" }).check();
    await seeText(page.getByTestId("selection-count"), "5 selected");
    await page.keyboard.press("Escape");
    await seeText(page.getByTestId("selection-count"), "No PRs selected");
  });
});

test("add: per-ref results next to the input; failed refs stay in it", async () => {
  await withPage({ status: set() }, async (page) => {
    await ready(page);
    await fake(page, (f) => f.notFound.add(404));
    const input = page.getByRole("textbox", { name: "Add PRs" });
    await input.fill("#10, 1 https://github.com/internetarchive/openlibrary/pull/11/files https://github.com/internetarchive/openlibrary/issues/5 404 junk origin pull/12/head  # Fix, things");
    await page.getByRole("button", { name: "Add PRs" }).click();
    const results = page.getByTestId("add-results");
    await seeText(results, "added #10 pinned at");
    assert.deepEqual((await calls(page, "addPRs"))[0], {
      refs: ["#10", "1", "https://github.com/internetarchive/openlibrary/pull/11/files", "https://github.com/internetarchive/openlibrary/issues/5", "404", "junk", "origin pull/12/head  # Fix, things"],
      expectedVersion: "v1",
    });
    await seeText(results, "#1 is already in the testing set");
    await seeText(results, "added #11 pinned at");
    await seeText(results, "https://github.com/internetarchive/openlibrary/issues/5: an issue URL, not a pull request");
    await seeText(results, "GitHub has no pull request #404");
    await seeText(results, "junk:");
    await seeText(results, "added #12 pinned at");
    assert.equal(await input.inputValue(), "https://github.com/internetarchive/openlibrary/issues/5 404 junk");
    for (const n of [10, 11, 12]) await row(page, n).waitFor();
    await seeText(page.getByTestId("plan"), "Add #10");
  });
});

test("add: Enter submits; an empty box sends nothing; the button is busy while adding", async () => {
  await withPage({ status: set() }, async (page) => {
    await ready(page);
    const input = page.getByRole("textbox", { name: "Add PRs" });
    await input.press("Enter");
    await input.fill("   ");
    await input.press("Enter");
    assert.deepEqual(await calls(page, "addPRs"), []);
    await fake(page, (f) => f.hold("addPRs"));
    await input.fill("20");
    await input.press("Enter");
    const button = page.getByRole("button", { name: "Add PRs" });
    await until(() => button.isDisabled(), "busy button");
    await fake(page, (f) => f.release("addPRs"));
    await row(page, 20).waitFor();
    await until(() => button.isEnabled(), "button back");
    assert.equal(await input.inputValue(), "");
  });
});

test("add: a failed call keeps the whole text and says why", async () => {
  await withPage({ status: set() }, async (page) => {
    await ready(page);
    await fake(page, (f) => f.fail("addPRs", "InvalidArgument", "at most 100 refs at a time (got 101)"));
    const input = page.getByRole("textbox", { name: "Add PRs" });
    await input.fill("30 31");
    await input.press("Enter");
    await seeText(errorsRegion(page), "at most 100 refs at a time (got 101)");
    assert.equal(await input.inputValue(), "30 31");
  });
});

test("writes run one after another, each with the version the previous one produced", async () => {
  await withPage({ status: set() }, async (page) => {
    await ready(page);
    await fake(page, (f) => f.hold("stagePRs"));
    await row(page, 1).getByRole("switch").click();
    await row(page, 4).getByRole("switch").click();
    await until(async () => (await calls(page, "stagePRs")).length === 1, "first call only");
    await fake(page, (f) => f.release("stagePRs"));
    await until(async () => (await calls(page, "stagePRs")).length === 2, "second call");
    const [a, b] = await calls(page, "stagePRs");
    assert.equal(a.expectedVersion, "v1");
    assert.notEqual(b.expectedVersion, "v1");
    assert.equal(await errorsRegion(page).locator("li").count(), 0, "no ABORTED from our own writes");
    await seeText(page.getByTestId("plan-heading"), "2 changes will be applied");
  });
});
