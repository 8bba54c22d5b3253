// Every row state of the PR table, and the plan that goes with it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { REPO, ago, pr, ready, row, seeText, sha, status, until, withPage } from "./harness.mjs";

const avatar = "data:image/svg+xml," + encodeURIComponent('<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24"><rect width="24" height="24" fill="teal"/></svg>');

const rows = [
  pr(1, { title: "Live and current", author: "alice", authorAvatar: avatar, assignee: "bob" }),
  pr(2, { title: "Not yet deployed", liveNow: false, isNew: true, action: "CHANGE_KIND_ADD" }),
  pr(3, { title: "Failed to merge", mergeConflict: true, liveNow: false, author: "carol", authorAvatar: "data:image/png;base64,AAAA" }),
  pr(4, { title: "Removed since the deploy", inSet: false, removed: true }),
  pr(5, { title: "Merged upstream", merged: true, action: "CHANGE_KIND_REMOVE" }),
  pr(6, { title: "Closed unmerged", closed: true, action: "CHANGE_KIND_REMOVE" }),
  pr(7, { title: "Force-pushed", diverged: true, drift: 2, headSha: sha(7, "b") }),
  pr(8, { title: "Three behind", drift: 3, headSha: sha(8, "c") }),
  pr(9, { title: "Unknown drift", drift: -1, headSha: "" }),
  pr(10, { title: "Pin staged", drift: 1, headSha: sha(10, "d"), pullLatestSha: sha(10, "d"), action: "CHANGE_KIND_PIN" }),
  pr(11, { title: "Disable staged", pendingActive: false, action: "CHANGE_KIND_DISABLE" }),
  pr(12, { title: "Switched off", active: false, liveNow: false }),
  pr(13, { title: "Conflicts with master", mergeable: "MERGEABLE_CONFLICTING" }),
  // As testingd sends them: GitHub is not asked about a finished PR's drift.
  pr(14, { title: "Merged, drift not asked", merged: true, drift: -1, action: "CHANGE_KIND_REMOVE" }),
  pr(15, { title: "Closed, drift not asked", closed: true, drift: -1, action: "CHANGE_KIND_REMOVE" }),
];

const plan = [
  { number: 2, title: "Not yet deployed", kind: "CHANGE_KIND_ADD", detail: "2aaaaaa" },
  { number: 10, title: "Pin staged", kind: "CHANGE_KIND_PIN", detail: "10ddddd" },
  { number: 11, title: "Disable staged", kind: "CHANGE_KIND_DISABLE" },
  { number: 4, title: "Removed since the deploy", kind: "CHANGE_KIND_REMOVE", reason: "dropped" },
  { number: 5, title: "Merged upstream", kind: "CHANGE_KIND_REMOVE", reason: "merged" },
  { number: 6, title: "Closed unmerged", kind: "CHANGE_KIND_REMOVE", reason: "closed" },
];

const scenario = { status: status({ prs: rows, pendingChanges: plan, hasPending: true }) };

const attr = (l, a) => l.getAttribute(a);

test("every row state", async () => {
  await withPage(scenario, async (page) => {
    await ready(page);
    // Merged and closed rows are shown, not hidden (legacy hid merged ones).
    assert.equal(await page.locator("tr-pr-row").count(), rows.length);

    const dot = (n) => row(page, n).getByTestId("live-dot");
    assert.equal(await attr(dot(1), "aria-label"), "Live now");
    assert.equal(await attr(dot(2), "aria-label"), "Not yet deployed");
    assert.equal(await attr(dot(3), "aria-label"), "Deploy failed (merge conflict)");

    // #N and the title link to the PR on GitHub.
    const links = row(page, 1).getByRole("link", { name: /#1$|Live and current/ });
    assert.equal(await links.count(), 2);
    for (const l of await links.all()) assert.equal(await attr(l, "href"), `https://github.com/${REPO}/pull/1`);

    // Avatars: an image, a letter tile, a dash for nobody.
    assert.equal(await attr(row(page, 1).getByRole("img", { name: "author: alice" }), "src"), avatar);
    assert.equal(await row(page, 1).getByRole("img", { name: "assignee: bob" }).textContent(), "B");
    await seeText(row(page, 2).locator(".avatar").nth(1), "no assignee");
    // An avatar that fails to load becomes its letter.
    await until(async () => (await row(page, 3).getByRole("img", { name: "author: carol" }).textContent()) === "C", "letter for a broken avatar");

    // Drift pills.
    const drift = (n) => row(page, n).getByTestId("drift");
    assert.equal(await drift(1).textContent(), "OK");
    assert.equal(await drift(8).textContent(), "-3");
    assert.equal(await row(page, 8).getByRole("link", { name: /3 commits behind/ }).getAttribute("href"),
      `https://github.com/${REPO}/compare/${sha(8)}...${sha(8, "c")}`);
    assert.equal(await drift(9).textContent(), "?");
    assert.equal(await row(page, 9).getByRole("link", { name: /Drift unknown/ }).getAttribute("href"), `https://github.com/${REPO}/commit/${sha(9)}`);
    // A merged or closed PR's drift no longer matters: a dash, not "unknown".
    assert.equal(await drift(14).textContent(), "—");
    assert.match(await row(page, 14).locator('[title^="Merged: its drift no longer matters"]').first().getAttribute("title"), /pinned at 14aaaaa/);
    assert.equal(await drift(15).textContent(), "—");
    assert.equal(await row(page, 15).locator('[title^="Closed: its drift no longer matters"]').count(), 1);
    assert.equal(await row(page, 14).locator(".drift a").count(), 0, "nothing to compare");
    assert.equal(await row(page, 8).locator(".drift a").count(), 1);
    assert.equal(await drift(7).textContent(), "diverged");
    assert.match(await row(page, 7).getByRole("link", { name: /^diverged/ }).getAttribute("href"), /compare/);

    // Update only where the head moved and nothing is staged.
    const update = (n) => row(page, n).getByRole("button", { name: `Update #${n} to its latest commit` });
    assert.equal(await update(8).count(), 1);
    assert.equal(await update(7).count(), 1, "a diverged pin can be updated");
    assert.equal(await update(1).count(), 0);
    assert.equal(await update(10).count(), 0, "hidden once a pin is staged");
    await seeText(row(page, 10), "→10ddddd");

    // The hourglass marks rows the next deploy changes.
    for (const n of [2, 5, 6, 10, 11]) assert.equal(await row(page, n).getByTestId("hourglass").count(), 1, `hourglass on #${n}`);
    for (const n of [1, 8, 12]) assert.equal(await row(page, n).getByTestId("hourglass").count(), 0, `no hourglass on #${n}`);
    assert.equal(await attr(row(page, 10).getByTestId("hourglass"), "aria-label"), "Changes on the next deploy: Update pin");

    // The switch shows the state after the next deploy.
    const sw = (n) => row(page, n).getByRole("switch", { name: `PR #${n} on testing after the next deploy` });
    assert.equal(await attr(sw(1), "aria-checked"), "true");
    assert.equal(await attr(sw(11), "aria-checked"), "false", "a staged disable shows off");
    assert.equal(await attr(sw(12), "aria-checked"), "false");

    // Badges for what legacy hid.
    await seeText(row(page, 2), "new");
    await seeText(row(page, 3), "merge failed");
    await seeText(row(page, 5), "merged");
    await seeText(row(page, 6), "closed");
    await seeText(row(page, 12), "off");
    await seeText(row(page, 13), "conflicts with master");

    // Removed rows: no switch, no checkbox, no drift — an Undo instead of Remove.
    const removed = row(page, 4);
    assert.equal(await removed.getAttribute("data-state"), "removed");
    await seeText(removed, "removed");
    assert.equal(await removed.getByRole("switch").count(), 0);
    assert.equal(await removed.getByRole("checkbox").count(), 0);
    assert.equal(await removed.getByRole("button", { name: "Undo the removal of #4" }).count(), 1);
    assert.equal(await removed.getByRole("button", { name: "Remove #4" }).count(), 0);

    // Staged rows offer Unstage.
    assert.equal(await row(page, 10).getByRole("button", { name: "Unstage the changes to #10" }).count(), 1);
    assert.equal(await row(page, 11).getByRole("button", { name: "Unstage the changes to #11" }).count(), 1);
    assert.equal(await row(page, 1).getByRole("button", { name: /Unstage/ }).count(), 0);
  });
});

test("the plan lists every change in order, with reasons", async () => {
  await withPage(scenario, async (page) => {
    await ready(page);
    await seeText(page.getByTestId("plan-heading"), "6 changes will be applied");
    const items = await page.getByTestId("plan").locator("li").allTextContents();
    const flat = items.map((t) => t.replace(/\s+/g, " ").trim());
    assert.deepEqual(flat, [
      "Add #2 Not yet deployed 2aaaaaa",
      "Update pin #10 Pin staged 10ddddd",
      "Disable #11 Disable staged",
      "Remove #4 Removed since the deploy dropped from the set",
      "Remove #5 Merged upstream merged to master",
      "Remove #6 Closed unmerged closed without merging",
    ]);
    assert.equal(await page.getByTestId("deploy").isEnabled(), true);
  });
});

test("one change, and nothing to deploy", async () => {
  const one = status({ prs: [pr(1, { liveNow: false })], hasPending: true, pendingChanges: [{ number: 1, title: "x", kind: "CHANGE_KIND_ADD", detail: "1aaaaaa" }] });
  await withPage({ status: one }, async (page) => {
    await seeText(page.getByTestId("plan-heading"), "1 change will be applied");
  });
  await withPage({ status: status({ prs: [pr(1)] }) }, async (page) => {
    await seeText(page.getByTestId("plan-empty"), "Nothing to deploy — testing matches the current set.");
    assert.equal(await page.getByTestId("deploy").isDisabled(), true, "Deploy is disabled with nothing pending");
  });
});

test("an empty set", async () => {
  await withPage({ status: status({ lastDeployAt: undefined }) }, async (page) => {
    await seeText(page.getByTestId("no-prs"), "No PRs in testing set.");
    await seeText(page.getByTestId("deploy-banner"), "Never deployed");
  });
});

test("drift freshness is shown, stale drift says why", async () => {
  const s = status({ prs: [pr(1)], driftResolvedAt: ago(3), driftStale: true, driftError: "GitHub rate limit reached (resets at 17:03 UTC); showing the last known drift" });
  await withPage({ status: s }, async (page) => {
    await seeText(page.getByTestId("drift-note"), "Drift checked 3 minutes ago.");
    await seeText(page.getByTestId("drift-note"), "GitHub rate limit reached (resets at 17:03 UTC)");
  });
});
