// How testingd stands with GitHub (GetStatusResponse.github) under the drift note:
// the rate-limit budget, the last answer, webhooks or polling, the last reconcile,
// the budget-low warning; and each row's mergeability from Mergeable and GitHub's
// own word (mergeable_state).
import assert from "node:assert/strict";
import { test } from "node:test";
import { NOW, ago, axe, deepText, fake, pr, ready, row, seeText, status, until, withPage } from "./harness.mjs";

/**
 * withPage, with the clock paused at NOW + 5 s once the first status is shown (so
 * that "12 seconds ago" is exact). The clock is the browser context's, shared by
 * the pages of this file: it runs again afterwards.
 */
async function withPausedPage(scenario, fn) {
  await withPage(scenario, async (page) => {
    await ready(page);
    await page.clock.pauseAt(NOW + 5_000);
    try {
      await fn(page);
    } finally {
      await page.clock.resume();
    }
  });
}

/** An ISO time `s` seconds after NOW (negative: before). */
const at = (s) => new Date(NOW + s * 1000).toISOString();
const NOW_ISO = new Date(NOW).toISOString();
const standing = (page) => page.getByTestId("github-status");
const lowBanner = (page) => page.getByTestId("github-budget-low");

const known = {
  rateLimit: 5000,
  rateRemaining: 4812,
  rateReset: at(63 * 60), // 17:03 UTC
  lastContactAt: at(-7), // 12 s before the clock is paused, at NOW + 5 s
  webhooksEnabled: true,
  lastWebhookAt: ago(3),
  lastReconcileAt: ago(4),
  freshForSeconds: 600,
};

test("GitHub standing: requests left, the reset, the last answer (ticking), webhooks, the reconcile", async () => {
  await withPausedPage({ status: status({ prs: [pr(1)], github: known }) }, async (page) => {
    await seeText(standing(page), "GitHub: 4,812 / 5,000 requests left · resets 17:03 UTC");
    await seeText(standing(page), "last answer 12 seconds ago");
    await seeText(standing(page), "webhooks: last delivery 3 minutes ago");
    await seeText(standing(page), "reconciled 4 minutes ago");
    // Each fact says what it means, and the webhook line how long facts stay fresh.
    assert.match(await standing(page).locator('[title^="GitHub tells testingd of changes by webhook"]').getAttribute("title"), /fresh for 10 min/);
    assert.equal(await standing(page).locator('[title="The rate-limit window resets at 2026-08-06 17:03 UTC"]').count(), 1);
    assert.equal(await lowBanner(page).count(), 0, "no warning while the budget is fine");
    // The last answer keeps itself current.
    await page.clock.runFor(60_000);
    await seeText(standing(page), "last answer 1 minute ago");
    // A new status (a webhook arrived, GitHub answered again) shows at once.
    await fake(page, (f, s) => f.setStatus(s), status({ prs: [pr(1)], version: "v2", github: { ...known, rateRemaining: 4790, lastContactAt: at(65) } }));
    await seeText(standing(page), "GitHub: 4,790 / 5,000 requests left");
    await seeText(standing(page), "last answer now");
  });
});

test("GitHub standing: an unknown budget and unset times are left out; webhooks off says how often it polls", async () => {
  await withPausedPage({ status: status({ prs: [pr(1)], github: { webhooksEnabled: false, freshForSeconds: 60 } }) }, async (page) => {
    await seeText(standing(page), "webhooks off — changes are polled every 60 s");
    const text = await deepText(standing(page));
    for (const absent of ["requests left", "resets", "last answer", "reconciled", "last delivery"]) {
      assert.ok(!text.includes(absent), `"${absent}" is not shown (have "${text}")`);
    }
    assert.equal(text, "webhooks off — changes are polled every 60 s");
    // Webhooks on, nothing delivered yet; GitHub answered but has not said its limit.
    await fake(page, (f, s) => f.setStatus(s), status({ prs: [pr(1)], version: "v2", github: { webhooksEnabled: true, lastContactAt: NOW_ISO, freshForSeconds: 300 } }));
    await seeText(standing(page), "last answer 5 seconds ago · webhooks on, no delivery yet");
    assert.ok(!(await deepText(standing(page))).includes("requests left"));
  });
  // An older testingd sends no standing at all: nothing is shown.
  await withPage({ status: status({ prs: [pr(1)] }) }, async (page) => {
    await ready(page);
    await page.getByTestId("drift-note").waitFor();
    assert.equal(await standing(page).count(), 0);
  });
});

test("GitHub budget low: a warning says the data is cached until the reset, and goes when the budget is back", async () => {
  const low = { ...known, rateRemaining: 212, budgetLow: true };
  const s = status({
    prs: [pr(1)],
    github: low,
    driftStale: true,
    driftError: "GitHub rate-limit budget low: 212 of 5000 requests left until 17:03 UTC; showing cached data",
  });
  await withPage({ status: s }, async (page) => {
    await ready(page);
    const banner = lowBanner(page);
    await seeText(banner, "GitHub budget low: 212 of 5,000 requests left.");
    await seeText(banner, "stopped asking GitHub in the background and shows cached data until 17:03 UTC");
    // Announced: the warning is in a live region.
    assert.equal(await banner.evaluate((el) => el.parentElement.getAttribute("role")), "status");
    await seeText(standing(page), "GitHub: 212 / 5,000 requests left");
    // The drift note neither repeats the warning nor pretends to refresh.
    const note = await deepText(page.getByTestId("drift-note"));
    assert.ok(!note.includes("budget low") && !note.includes("Refreshing"), `drift note: "${note}"`);
    // The budget recovers: the warning goes.
    await fake(page, (f, s) => f.setStatus(s), status({ prs: [pr(1)], version: "v2", github: { ...known, rateRemaining: 5000 } }));
    await until(async () => (await lowBanner(page).count()) === 0, "the warning gone");
    await seeText(standing(page), "GitHub: 5,000 / 5,000 requests left");
  });
  // Another drift error is still shown next to the warning.
  await withPage({ status: { ...s, driftError: "GitHub is unavailable; showing the last known drift" } }, async (page) => {
    await ready(page);
    await seeText(page.getByTestId("drift-note"), "GitHub is unavailable; showing the last known drift");
    await lowBanner(page).waitFor();
  });
});

for (const colorScheme of ["light", "dark"]) {
  test(`GitHub standing and mergeability: axe-core clean, nothing wider than a phone (${colorScheme})`, async () => {
    const s = status({
      prs: [pr(1, { mergeable: "MERGEABLE_CONFLICTING", mergeableState: "dirty" }), pr(2, { mergeable: "MERGEABLE_UNKNOWN", mergeableState: "unknown" }), pr(3, { mergeable: "MERGEABLE_CLEAN", mergeableState: "draft" })],
      github: { ...known, rateLimit: 1_000_000, rateRemaining: 999_983, budgetLow: true, webhooksEnabled: false },
    });
    await withPage({ status: s }, async (page) => {
      await ready(page);
      await lowBanner(page).waitFor();
      assert.deepEqual(await axe(page), []);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.equal(overflow, 0);
    }, { colorScheme, viewport: { width: 390, height: 844 } });
  });
}

test("mergeability per row: conflicts, checking…, GitHub's word for the rest, nothing when clean or not asked", async () => {
  const rows = [
    pr(1, { title: "Conflicting", mergeable: "MERGEABLE_CONFLICTING", mergeableState: "dirty" }),
    pr(2, { title: "Dirty, Mergeable not said", mergeableState: "dirty" }),
    pr(3, { title: "GitHub computing", mergeable: "MERGEABLE_UNKNOWN", mergeableState: "unknown" }),
    pr(4, { title: "Clean", mergeable: "MERGEABLE_CLEAN", mergeableState: "clean" }),
    pr(5, { title: "Not asked" }),
    pr(6, { title: "Blocked", mergeable: "MERGEABLE_CLEAN", mergeableState: "blocked" }),
    pr(7, { title: "Behind", mergeable: "MERGEABLE_CLEAN", mergeableState: "behind" }),
    pr(8, { title: "Unstable", mergeable: "MERGEABLE_CLEAN", mergeableState: "unstable" }),
    pr(9, { title: "Draft", mergeable: "MERGEABLE_UNKNOWN", mergeableState: "draft" }),
    // A merged or closed PR merges nowhere any more: GitHub says "unknown" forever.
    pr(10, { title: "Merged", merged: true, mergeable: "MERGEABLE_UNKNOWN", mergeableState: "unknown", action: "CHANGE_KIND_REMOVE" }),
    pr(11, { title: "Closed", closed: true, mergeable: "MERGEABLE_CONFLICTING", mergeableState: "dirty", action: "CHANGE_KIND_REMOVE" }),
  ];
  await withPage({ status: status({ prs: rows }) }, async (page) => {
    await ready(page);
    const pill = (n) => row(page, n).getByTestId("mergeability");
    const text = async (n) => (await deepText(pill(n))).replace(/^(mergeability|GitHub): /, "");

    await seeText(pill(1), "conflicts with master");
    assert.equal(await pill(1).getAttribute("data-kind"), "conflicts");
    assert.match(await pill(1).getAttribute("title"), /conflicts with its base branch.*\(GitHub: "dirty"\)$/);
    assert.equal(await pill(1).getAttribute("class"), "badge warning");
    assert.equal(await text(2), "conflicts with master", "dirty alone is a conflict");

    assert.equal(await text(3), "checking…");
    assert.equal(await deepText(pill(3)), "mergeability: checking…", "a screen reader hears what is being checked");
    assert.match(await pill(3).getAttribute("title"), /still working out whether this PR merges cleanly/);
    assert.equal(await pill(3).getAttribute("class"), "badge neutral checking");

    for (const n of [4, 5, 10, 11]) assert.equal(await pill(n).count(), 0, `no mergeability on #${n}`);
    await seeText(row(page, 11), "closed");

    const words = { 6: ["blocked", "blocked"], 7: ["behind", "behind master"], 8: ["unstable", "unstable"], 9: ["draft", "draft"] };
    for (const [n, [word, label]] of Object.entries(words)) {
      assert.equal(await text(n), label, `#${n}`);
      assert.equal(await pill(n).getAttribute("data-kind"), "other");
      assert.ok((await pill(n).getAttribute("title")).startsWith(`GitHub: "${word}": `), `#${n} names GitHub's word`);
    }
    assert.match(await pill(6).getAttribute("title"), /it merges without conflicts$/);
    assert.doesNotMatch(await pill(9).getAttribute("title"), /without conflicts/, "not said when GitHub has not computed it");

    // GitHub finishes computing: the pill follows the next status.
    await fake(page, (f) => {
      const p = f.status.prs.find((x) => x.number === 3);
      p.mergeable = 2; // MERGEABLE_CLEAN
      p.mergeableState = "clean";
      f.pushStatus();
    });
    await until(async () => (await pill(3).count()) === 0, "#3 clean: no pill");
  });
});
