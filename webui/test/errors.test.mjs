// Every error path: each Connect code gets its own sentence, ABORTED re-syncs,
// and the live stream survives drops and silence (offline banner, backoff, reconnect).
import assert from "node:assert/strict";
import { test } from "node:test";
import { NOW, calls, errorsRegion, fake, pr, ready, row, seeText, status, until, withPage } from "./harness.mjs";

const set = () => status({ prs: [pr(1), pr(2)] });

const codes = [
  ["Canceled", "The request to stage that change was canceled. Nothing was changed."],
  ["Unknown", "Could not reach testingd to stage that change (network error or the server failed). The page will show whether it was applied once it reconnects."],
  ["InvalidArgument", "stage must be ENABLE, DISABLE, PULL_LATEST or UNSTAGE"],
  ["DeadlineExceeded", "The server took too long to stage that change; the page shows the current state — check it before trying again."],
  ["NotFound", "there is no testing state file (_testing-prs.json) yet"],
  ["AlreadyExists", "server says: already exists"],
  ["PermissionDenied", "Only Open Library maintainers can do that: sign in with a maintainer's account."],
  ["ResourceExhausted", "Too many requests: wait a moment, then stage that change again. Nothing was changed."],
  ["FailedPrecondition", "the testing state file _testing-prs.json cannot be read (line 3, column 1: bad)"],
  ["OutOfRange", "server says: out of range"],
  ["Unimplemented", "This testingd does not know how to stage that change (an older server?). Nothing was changed."],
  ["Internal", "The server failed to stage that change (an internal error; its log has the details). Nothing was changed."],
  ["Unavailable", "GitHub or the server is unavailable, so could not stage that change. Nothing was changed. Try again shortly."],
  ["DataLoss", "The server failed to stage that change (an internal error; its log has the details)."],
  ["Unauthenticated", "You are not signed in (or your session ended): sign in to Open Library as a maintainer to use the testing panel."],
];

test("every Connect code of a write has a specific message", async () => {
  await withPage({ status: set() }, async (page) => {
    await ready(page);
    for (const [code, text] of codes) {
      const server = text.startsWith("server says") || /^(stage must|there is no|the testing state)/.test(text) ? text : "raw server words";
      await fake(page, (f, [c, m]) => f.fail("stagePRs", c, m), [code, server]);
      await row(page, 1).getByRole("switch").click();
      await seeText(errorsRegion(page), text);
      if (code === "PermissionDenied" || code === "Unauthenticated") {
        const link = errorsRegion(page).getByRole("link", { name: "Sign in to Open Library as a maintainer" }).last();
        assert.match(await link.getAttribute("href"), /^\/account\/login\?redirect=/);
      }
      // Dismiss, so the next message is the only one.
      for (const b of await errorsRegion(page).getByRole("button", { name: "Dismiss" }).all()) await b.click();
      await until(async () => (await errorsRegion(page).locator("li").count()) === 0, "errors dismissed");
    }
    // Nothing was applied by any of them.
    assert.equal(await row(page, 1).getByRole("switch").getAttribute("aria-checked"), "true");
  });
});

test("ABORTED: the page re-syncs and says someone else changed the set", async () => {
  await withPage({ status: set() }, async (page) => {
    await ready(page);
    // Another maintainer's write, not (yet) pushed to this page.
    await fake(page, (f) => f.externalChange(false, "Their PR"));
    await row(page, 1).getByRole("button", { name: "Remove #1" }).click();
    await seeText(errorsRegion(page), "Someone else changed the testing set — the page now shows their change; try again.");
    await row(page, 99999).waitFor();
    await seeText(row(page, 99999), "Their PR");
    assert.equal(await row(page, 1).getAttribute("data-state"), "in-set", "our removal was refused");
    // Trying again uses the version just shown, and works.
    await row(page, 1).getByRole("button", { name: "Remove #1" }).click();
    await until(async () => (await row(page, 1).getAttribute("data-state")) === "removed", "removed on retry");
    const removes = await calls(page, "removePRs");
    assert.equal(removes.length, 2);
    assert.notEqual(removes[1].expectedVersion, removes[0].expectedVersion);
  });
});

test("another maintainer's change arrives live, without a reload", async () => {
  await withPage({ status: set() }, async (page) => {
    await ready(page);
    await fake(page, (f) => f.externalChange(true, "Pushed live"));
    await seeText(row(page, 99999), "Pushed live");
    assert.equal((await calls(page, "getStatus")).length, 0, "no polling, no GetStatus");
  });
});

const offline = (page) => page.getByTestId("offline-banner");

test("a dropped stream: offline banner with the last state, backoff, reconnect", async () => {
  await withPage({ status: set() }, async (page) => {
    await ready(page);
    await page.clock.pauseAt(NOW + 10_000);
    await fake(page, (f) => {
      f.setRefuseWatch("Unavailable", "connection refused");
      f.dropWatchers("Unavailable", "connection reset");
    });
    await seeText(offline(page), "Offline");
    await seeText(offline(page), "Live updates stopped; the page shows the last known state.");
    await seeText(offline(page), "Reconnecting in");
    await row(page, 1).waitFor(); // the last state stays
    // Retries keep failing while the server is down: still offline, backing off.
    await page.clock.fastForward(5_000);
    await until(() => fake(page, (f) => f.watchOpens === 2), "a retry");
    await seeText(offline(page), "Reconnecting in");
    await page.clock.fastForward(5_000);
    await until(() => fake(page, (f) => f.watchOpens === 3), "another retry");
    await seeText(offline(page), "Offline");
    // The server is back: the next retry reconnects and the banner goes.
    await fake(page, (f) => f.setRefuseWatch(null));
    await fake(page, (f) => f.externalChange(false, "Changed while offline"));
    await page.clock.fastForward(60_000);
    await offline(page).waitFor({ state: "detached" });
    await seeText(row(page, 99999), "Changed while offline");
  });
});

test("Reconnect now retries at once", async () => {
  await withPage({ status: set() }, async (page) => {
    await ready(page);
    await page.clock.pauseAt(NOW + 10_000);
    await fake(page, (f) => f.dropWatchers());
    await offline(page).waitFor();
    await page.getByRole("button", { name: "Reconnect now" }).click();
    await offline(page).waitFor({ state: "detached" });
    assert.equal(await fake(page, (f) => f.watchOpens), 2);
  });
});

test("a silent stream counts as dead after ~45 s; heartbeats keep it alive", async () => {
  await withPage({ status: set() }, async (page) => {
    await ready(page);
    await page.clock.pauseAt(NOW + 10_000);
    await page.clock.runFor(30_000);
    await fake(page, (f) => f.heartbeat());
    await page.clock.runFor(30_000);
    assert.equal(await offline(page).count(), 0, "a heartbeat reset the watchdog");
    assert.equal(await fake(page, (f) => f.watchOpens), 1);
    await page.clock.fastForward(20_000); // fires the watchdog, not the retry it schedules
    await seeText(offline(page), "No word from the server for 45 s: the connection seems dead.");
    await page.clock.fastForward(2_000);
    await offline(page).waitFor({ state: "detached" });
    assert.equal(await fake(page, (f) => f.watchOpens), 2);
  });
});

test("no state file yet: the reason is shown and the add box still works", async () => {
  const scenario = { status: set(), statusError: { code: "NotFound", message: "there is no testing state file (_testing-prs.json) yet: add a PR (AddPRs) to create it" } };
  await withPage(scenario, async (page) => {
    await seeText(offline(page), "Cannot load the testing set.");
    await seeText(offline(page), "there is no testing state file (_testing-prs.json) yet");
    await page.getByRole("textbox", { name: "Add PRs" }).waitFor();
  });
});

test("a session that ends while watching turns into the sign-in view, not an error loop", async () => {
  await withPage({ status: set() }, async (page) => {
    await ready(page);
    await fake(page, (f) => {
      f.setRefuseWatch("Unauthenticated", "sign in to Open Library as a maintainer to use the testing panel");
      f.dropWatchers("Unauthenticated", "sign in");
    });
    await page.getByTestId("maintainers-only").waitFor();
    assert.equal(await fake(page, (f) => f.watchOpens), 1, "no retries");
  });
});

test("read errors: history and build result say what failed", async () => {
  await withPage({ status: set() }, async (page) => {
    await ready(page);
    await fake(page, (f) => f.fail("listEvents", "Internal", "internal error; the server log has the details"));
    await page.getByText("History", { exact: true }).click();
    await seeText(page.getByTestId("history"), "The server failed to load the history (an internal error; its log has the details).");
  });
  await withPage({ status: set() }, async (page) => {
    await ready(page);
    await fake(page, (f) => f.fail("getBuildResult", "Unavailable"));
    // A new deploy result makes the page fetch the transcript again.
    await fake(page, (f) => f.setStatus({ version: "v5", githubRepo: "internetarchive/openlibrary", jenkinsConfigured: true, deployResult: "SUCCESS", deployRunId: "5" }));
    await seeText(page.getByTestId("build"), "The server is unavailable, so could not load the last build result. Try again shortly.");
  });
});
