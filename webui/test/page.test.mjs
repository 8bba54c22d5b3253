// The page beyond the table: the public view for non-maintainers, the build
// result, system information and flags, the history, keyboard shortcuts, the dark
// theme, a phone's width, and axe-core's accessibility checks.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ago, axe, calls, fake, pr, ready, row, seeText, sha, status, until, withPage } from "./harness.mjs";

const build = {
  exists: true,
  gitStatus: "On branch testing\nnothing to commit",
  prs: [
    { number: 13208, name: "Fix search", link: "https://github.com/internetarchive/openlibrary/pull/13208", status: "Merge made by the 'ort' strategy.", body: " openlibrary/search.py | 2 +-\nMerge made by the 'ort' strategy.", pullLine: "origin pull/13208/head  # Fix search" },
    { number: 13370, name: "Broken", link: "https://github.com/internetarchive/openlibrary/pull/13370", status: "Automatic merge failed; fix conflicts and then commit the result.", body: "CONFLICT (content)\nAutomatic merge failed; fix conflicts and then commit the result.", mergeConflict: true, pullLine: "origin pull/13370/head  # Broken" },
    { number: 0, status: "Pinned commit abc unavailable — skipping", pullLine: "origin weird", skipped: true },
  ],
  footer: "Deployed at 2026-08-06 15:00",
  githubUrl: "https://github.com/internetarchive/openlibrary/pulls?q=is%3Apr+is%3Aopen+%2313208+%2313370",
  modifiedAt: ago(60),
};

const anonymous = {
  info: { serviceVersion: "v1.2.3", goVersion: "go1.26.8", host: "testing-box", features: [{ name: "beta", value: "usergroup: beta-testers" }], viewer: { signedIn: false, maintainer: false, authMode: "openlibrary" } },
  statusError: { code: "Unauthenticated", message: "sign in to Open Library as a maintainer to use the testing panel" },
  build,
};

const events = Array.from({ length: 25 }, (_, i) => ({
  id: `e${i}`,
  time: ago(i + 1),
  actor: i % 2 ? "mek" : "cdrini",
  kind: i === 0 ? "EVENT_KIND_DEPLOY" : i === 1 ? "EVENT_KIND_DEPLOY_FAILED" : i === 2 ? "EVENT_KIND_STAGE" : "EVENT_KIND_ADD",
  stage: i === 2 ? "STAGE_DISABLE" : undefined,
  summary: i === 0 ? "deployed 2 PRs" : i === 1 ? "deploy failed" : `event ${i}`,
  error: i === 1 ? "Jenkins is unavailable" : "",
  jenkinsQueueUrl: i === 0 ? "https://jenkins.invalid/queue/item/3/" : "",
  prs: i === 0 ? [{ number: 1, title: "One", commit: sha(1), active: true }, { number: 2, title: "Two", commit: sha(2), active: false }] : [{ number: 100 + i, title: `PR ${100 + i}` }],
}));

const many = () =>
  status({
    prs: [
      pr(1, { author: "alice", assignee: "bob" }),
      pr(2, { liveNow: false, isNew: true, action: "CHANGE_KIND_ADD" }),
      pr(3, { mergeConflict: true, liveNow: false, drift: 3, headSha: sha(3, "b") }),
      pr(4, { inSet: false, removed: true }),
      pr(5, { merged: true, action: "CHANGE_KIND_REMOVE" }),
      pr(6, { diverged: true, drift: 1, headSha: sha(6, "c"), mergeable: "MERGEABLE_CONFLICTING" }),
      pr(7, { drift: -1, pendingActive: false, action: "CHANGE_KIND_DISABLE" }),
    ],
    hasPending: true,
    pendingChanges: [
      { number: 2, title: "PR number 2", kind: "CHANGE_KIND_ADD", detail: "2aaaaaa" },
      { number: 7, title: "PR number 7", kind: "CHANGE_KIND_DISABLE" },
      { number: 4, title: "PR number 4", kind: "CHANGE_KIND_REMOVE", reason: "dropped" },
      { number: 5, title: "PR number 5", kind: "CHANGE_KIND_REMOVE", reason: "merged" },
    ],
    driftError: "GitHub is unavailable; showing the last known drift",
  });

test("non-maintainers see the public sections and a sign-in link, not an error", async () => {
  await withPage(anonymous, async (page) => {
    const gate = page.getByTestId("maintainers-only");
    await seeText(gate, "The testing environment panel is only visible to maintainers.");
    assert.match(await gate.getByRole("link", { name: "Sign in to Open Library as a maintainer" }).getAttribute("href"), /^\/account\/login\?redirect=%2F/);
    await seeText(page.getByTestId("build"), "Fix search");
    await seeText(page.getByTestId("info"), "testing-box");
    await seeText(page.getByTestId("features-section"), "usergroup: beta-testers");
    assert.equal(await page.getByRole("alert").filter({ hasText: /\S/ }).count(), 0, "no error shown");
    assert.equal(await page.getByRole("textbox", { name: "Add PRs" }).count(), 0);
    assert.equal(await page.locator("tr-pr-table").count(), 0);
    assert.equal(await page.getByTestId("history").count(), 0);
    assert.deepEqual(await axe(page), []);
  });
});

test("a signed-in non-maintainer is told who they are", async () => {
  const scenario = { ...anonymous, info: { ...anonymous.info, viewer: { username: "reader", signedIn: true, maintainer: false } }, statusError: { code: "PermissionDenied" } };
  await withPage(scenario, async (page) => {
    await seeText(page.getByTestId("maintainers-only"), "You are signed in as reader, who is not a maintainer.");
  });
});

test("the last build result: conflicts red, bodies expandable, a link to the PRs", async () => {
  await withPage({ status: status(), build }, async (page) => {
    const section = page.getByTestId("build");
    await seeText(section, "Built 1 hour ago");
    await seeText(section, "On branch testing");
    await seeText(section, "Deployed at 2026-08-06 15:00");
    assert.equal(await section.getByRole("link", { name: "View PRs on GitHub" }).getAttribute("href"), build.githubUrl);
    const conflict = section.locator('tr[data-number="13370"]');
    assert.equal(await conflict.getAttribute("class"), "conflict");
    await seeText(conflict, "merge conflict");
    assert.equal(await section.getByRole("link", { name: "#13208: Fix search" }).getAttribute("href"), build.prs[0].link);
    await seeText(section, "origin weird");
    await seeText(section, "skipped");
    const body = section.getByText("CONFLICT (content)");
    assert.equal(await body.isVisible(), false, "bodies start folded");
    await section.getByText("Show output").nth(1).click();
    assert.equal(await body.isVisible(), true);
  });
});

test("system information and feature flags", async () => {
  await withPage({ status: status() }, async (page) => {
    await seeText(page.getByTestId("info"), "testingd v1.2.3 (0123456789ab)");
    await seeText(page.getByTestId("info"), "go1.26.8");
    await seeText(page.getByTestId("info"), "2026-08-06 11:00 UTC (5 hours ago)");
    await seeText(page.getByTestId("info"), "fedcba9");
    const flags = page.getByTestId("features-section");
    await flags.getByRole("row", { name: "merge-queue true" }).waitFor();
    await flags.getByRole("row", { name: "beta usergroup: beta-testers" }).waitFor();
  });
});

test("history: who did what, each deploy's set, older pages, a PR filter, live reloads", async () => {
  await withPage({ status: status({ prs: [pr(1)] }), events }, async (page) => {
    await ready(page);
    const history = page.getByTestId("history");
    await history.getByText("History", { exact: true }).click();
    await until(async () => (await history.locator("li.event").count()) === 20, "first page");
    await seeText(history.locator("li.event").first(), "1 minute ago · cdrini deployed");
    await history.getByText("The deployed set (2 PRs)").click();
    await seeText(history.locator("li.event").first(), "#1 One 1aaaaaa");
    await seeText(history.locator("li.event").first(), "#2 Two 2aaaaaa (off)");
    await seeText(history.locator("li.event").nth(1), "Jenkins is unavailable");
    await seeText(history.locator("li.event").nth(2), "staged (disable)");
    await history.getByRole("button", { name: "Show older" }).click();
    await until(async () => (await history.locator("li.event").count()) === 25, "second page");
    assert.equal(await history.getByRole("button", { name: "Show older" }).count(), 0);
    await history.getByRole("spinbutton", { name: "Only PR #" }).fill("110");
    await history.getByRole("spinbutton", { name: "Only PR #" }).press("Enter");
    await until(async () => (await history.locator("li.event").count()) === 1, "filtered");
    const before = (await calls(page, "listEvents")).length;
    await row(page, 1).getByRole("switch").click();
    await until(async () => (await calls(page, "listEvents")).length > before, "reloaded after a change");
  });
});

test("keyboard shortcuts: / focuses the add box, ? lists shortcuts, h opens the history", async () => {
  await withPage({ status: status({ prs: [pr(1)] }) }, async (page) => {
    await ready(page);
    await page.keyboard.press("/");
    const input = page.getByRole("textbox", { name: "Add PRs" });
    assert.equal(await input.evaluate((el) => el === el.getRootNode().activeElement), true);
    await page.keyboard.type("12/3");
    assert.equal(await input.inputValue(), "12/3", "typing in the box is not a shortcut");
    await input.evaluate((el) => el.blur());
    await page.keyboard.press("?");
    const dialog = page.getByRole("dialog", { name: "Keyboard shortcuts" });
    await dialog.waitFor();
    await seeText(dialog, "Focus the add box");
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });
    await page.keyboard.press("h");
    await until(() => page.getByTestId("history").evaluate((d) => d.open), "history open");
    await page.getByRole("button", { name: "Keyboard shortcuts" }).click();
    await dialog.waitFor();
    await dialog.getByRole("button", { name: "Close" }).click();
    await dialog.waitFor({ state: "hidden" });
  });
});

test("the secondary chunk: its sections wait for it; a shortcut or Deploy loads it at once", async () => {
  // A clock that stands still: the idle callback that loads the chunk after the
  // first status never fires, so only asking for a dialog can load it.
  await withPage(
    { status: status({ prs: [pr(1, { active: false, pendingActive: true })], hasPending: true, pendingChanges: [{ number: 1, title: "PR number 1", kind: "CHANGE_KIND_ADD", detail: "1aaaaaa" }] }) },
    async (page) => {
      await ready(page);
      await seeText(page.getByTestId("history-loading"), "Loading history…");
      await seeText(page.getByTestId("info"), "Loading…");
      await page.keyboard.press("?");
      const dialog = page.getByRole("dialog", { name: "Keyboard shortcuts" });
      await dialog.waitFor();
      await page.keyboard.press("Escape");
      await dialog.waitFor({ state: "hidden" });
      // Loaded now: the sections fill in.
      await page.getByTestId("history").waitFor();
      await seeText(page.getByTestId("info"), "testing-box");
    },
    { paused: true },
  );
  await withPage(
    { status: status({ prs: [pr(1, { active: false, pendingActive: true })], hasPending: true, pendingChanges: [{ number: 1, title: "PR number 1", kind: "CHANGE_KIND_ADD", detail: "1aaaaaa" }] }) },
    async (page) => {
      await ready(page);
      await page.getByTestId("deploy").click();
      await page.getByRole("dialog").waitFor();
    },
    { paused: true },
  );
});

test("dark theme follows prefers-color-scheme", async () => {
  const bg = (page) => page.locator("tr-app").evaluate((el) => getComputedStyle(el).backgroundColor);
  await withPage({ status: status() }, async (page) => assert.equal(await bg(page), "rgb(255, 255, 255)"));
  await withPage({ status: status() }, async (page) => assert.equal(await bg(page), "rgb(13, 17, 23)"), { colorScheme: "dark" });
});

test("usable on a phone: nothing wider than the screen", async () => {
  await withPage({ status: many() }, async (page) => {
    await ready(page);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.equal(overflow, 0);
    assert.equal(await row(page, 1).getByRole("switch").isVisible(), true);
    assert.equal(await row(page, 1).getByRole("button", { name: "Remove #1" }).isVisible(), true);
    // No column headers on a phone: "Select all" is spelled out, and cells that would
    // only hold a dash (no assignee, no drift for a removed row) are not shown.
    assert.equal(await page.getByText("Select all", { exact: true }).isVisible(), true);
    assert.equal(await row(page, 2).locator(".avatar").nth(1).isVisible(), false, "no assignee: no dash");
    assert.equal(await row(page, 4).getByText("—").first().isVisible(), false, "a removed row has no drift dash");
  }, { viewport: { width: 390, height: 844 } });
});

for (const colorScheme of ["light", "dark"]) {
  test(`axe-core: no serious or critical violations (${colorScheme})`, async () => {
    await withPage({ status: many(), build, events }, async (page) => {
      await ready(page);
      await page.getByText("History", { exact: true }).click();
      await page.getByTestId("history").locator("li.event").first().waitFor();
      await page.getByRole("checkbox", { name: "Select #1" }).check();
      await fake(page, (f) => f.fail("stagePRs", "Internal"));
      await row(page, 1).getByRole("switch").click();
      await page.getByTestId("errors").locator("li").waitFor();
      assert.deepEqual(await axe(page), []);
      // The deploy confirmation, too.
      await page.getByTestId("deploy").click();
      await page.getByRole("dialog", { name: /Deploy 4 changes/ }).waitFor();
      assert.deepEqual(await axe(page), []);
    }, { colorScheme });
  });
}
