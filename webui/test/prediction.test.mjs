// The merge prediction (testingd --git-dir): the warning on a row the next deploy is
// predicted to skip, the one-line summary in every state, the deploy confirmation's
// "will not land" lines, "Check pairs" (GetConflictMatrix) and its errors, and
// axe-core with all of it on the page.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ago, axe, calls, deepText, fake, pr, ready, row, seeText, status, until, withPage } from "./harness.mjs";

const STATUS_PY = "openlibrary/plugins/openlibrary/status.py";
const BASE_SHA = "abcdef0123456789abcdef0123456789abcdef01";

const predicted = (state, o = {}) => ({ state: `MERGE_PREDICTION_STATE_${state}`, baseBranch: "master", baseSha: BASE_SHA, fetchedAt: ago(2), ...o });
const kind = (k) => `PREDICTED_MERGE_${k}`;

/** A set with every kind of prediction: 13269 is new, so there is a plan to deploy. */
const rows = [
  pr(13208, { title: "Merges cleanly", predictedMerge: kind("CLEAN") }),
  pr(13269, { title: "New and clean", liveNow: false, isNew: true, action: "CHANGE_KIND_ADD", predictedMerge: kind("CLEAN") }),
  pr(13370, { title: "Conflicts with an earlier PR", predictedMerge: kind("CONFLICTS_PR"), conflictsWith: 13208, conflictPaths: [STATUS_PY] }),
  pr(13371, { title: "Conflicts with master", predictedMerge: kind("CONFLICTS_BASE"), conflictPaths: ["a.py", "b/c.py"] }),
  pr(13372, { title: "Pin not fetched", predictedMerge: kind("MISSING") }),
  pr(13373, { title: "Unrelated history", predictedMerge: kind("REFUSED") }),
  pr(13374, { title: "Already in", predictedMerge: kind("EMPTY") }),
  pr(13375, { title: "Switched off", active: false, liveNow: false }),
];
const SKIPPED = [13370, 13371, 13372, 13373];

const plan = [{ number: 13269, title: "New and clean", kind: "CHANGE_KIND_ADD", detail: "13269aa" }];

const scenario = (prediction, o = {}) => ({
  status: status({ prs: rows, pendingChanges: plan, hasPending: true, mergePrediction: prediction, ...o }),
});

const summary = (page) => page.getByTestId("prediction-summary");
const pill = (page, n) => row(page, n).getByTestId("prediction");
const dialog = (page) => page.getByTestId("confirm-deploy");

test("ready: a warning on each row that will not land, with its reason in words and its paths one click away", async () => {
  await withPage(scenario(predicted("READY", { willNotLand: SKIPPED })), async (page) => {
    await ready(page);
    await seeText(pill(page, 13370), "will not land: conflicts with #13208");
    assert.equal(await pill(page, 13370).getAttribute("data-kind"), "CONFLICTS_PR");
    assert.equal(await deepText(pill(page, 13371)), "will not land: conflicts with master in a.py, b/c.py");
    assert.equal(await deepText(pill(page, 13372)), "will not land: its pinned commit is not fetched yet");
    assert.equal(await deepText(pill(page, 13373)), "will not land: git refuses to merge it");
    assert.equal(await pill(page, 13373).getAttribute("data-kind"), "REFUSED");
    // Clean, empty (already in) and unpredicted rows say nothing.
    for (const n of [13208, 13269, 13374, 13375]) assert.equal(await pill(page, n).count(), 0, `#${n} has no warning`);

    // The paths: a disclosure (a real <summary>: keyboard and screen reader), closed at first.
    const shown = () => pill(page, 13370).innerText();
    assert.equal(await shown(), "will not land: conflicts with #13208");
    const toggle = row(page, 13370).locator("summary");
    assert.equal(await toggle.getAttribute("title"), "Predicted with git: the next deploy skips this PR");
    await toggle.focus();
    await page.keyboard.press("Enter");
    await until(async () => (await shown()) === `will not land: conflicts with #13208\nin ${STATUS_PY}`, "the paths shown");
    // Rows without paths have nothing to open.
    assert.equal(await row(page, 13372).locator("summary").count(), 0);

    await seeText(summary(page), "Prediction: 4 PRs will not land: #13370, #13371, #13372, #13373.");
    assert.equal(await summary(page).getAttribute("data-state"), "READY");
    assert.match(await summary(page).getAttribute("class"), /\bwarn\b/);
    assert.equal(await summary(page).getAttribute("title"), "Merged with git onto master at abcdef0, fetched 2026-08-06 15:58 UTC");
    assert.deepEqual(await axe(page), []);
  });
});

test("the deploy confirmation lists each PR that will not land, and why; the deploy still goes ahead", async () => {
  await withPage(scenario(predicted("READY", { willNotLand: SKIPPED })), async (page) => {
    await ready(page);
    await page.getByTestId("deploy").click();
    await dialog(page).getByRole("heading", { name: "Deploy 1 change to testing?" }).waitFor();
    const list = dialog(page).getByRole("list", { name: "Predicted with git" });
    assert.deepEqual(await list.getByRole("listitem").allTextContents(), [
      `#13370 will not land: conflicts with #13208 in ${STATUS_PY}`,
      "#13371 will not land: conflicts with master in a.py, b/c.py",
      "#13372 will not land: its pinned commit is not fetched yet",
      "#13373 will not land: git refuses to merge it",
    ]);
    assert.deepEqual(await axe(page), []);
    await dialog(page).getByRole("button", { name: "Deploy" }).click();
    await dialog(page).waitFor({ state: "hidden" });
    await until(async () => (await calls(page, "deploy")).length === 1, "the deploy sent");
  });
});

test("ready and clean: a quiet line, no warnings, nothing extra in the confirmation", async () => {
  await withPage(scenario(predicted("READY"), { prs: rows.slice(0, 2).concat([pr(13374, { predictedMerge: kind("EMPTY") })]) }), async (page) => {
    await ready(page);
    await seeText(summary(page), "Prediction: every PR merges cleanly.");
    assert.match(await summary(page).getAttribute("class"), /\bmuted\b/);
    assert.equal(await page.locator('tr-pr-row [data-testid="prediction"]').count(), 0);
    await page.getByTestId("deploy").click();
    await dialog(page).getByRole("heading", { name: /^Deploy 1 change/ }).waitFor();
    assert.equal(await dialog(page).getByTestId("will-not-land").count(), 0);
  });
});

test("a prediction read on an older fetch says so", async () => {
  const reason = "the last fetch failed (git fetch: exit status 128); predicted on what was fetched before";
  await withPage(scenario(predicted("READY", { willNotLand: [13370], reason })), async (page) => {
    await seeText(summary(page), `Prediction: 1 PR will not land: #13370. (${reason})`);
  });
});

test("pending: nothing alarming while it is computed; then the warnings arrive on the stream", async () => {
  const bare = rows.map(({ predictedMerge, conflictsWith, conflictPaths, ...r }) => r);
  await withPage(scenario(predicted("PENDING", { reason: "fetching the PRs", baseSha: "", fetchedAt: undefined }), { prs: bare }), async (page) => {
    await ready(page);
    await seeText(summary(page), "Predicting the deploy's merges… (fetching the PRs)");
    assert.match(await summary(page).getAttribute("class"), /\bmuted\b/);
    assert.equal(await summary(page).getAttribute("title"), null, "no base commit yet");
    assert.equal(await page.locator('tr-pr-row [data-testid="prediction"]').count(), 0);
    // Computed: the server pushes the status with the rows' predictions.
    await fake(page, (f, s) => f.setStatus(s), scenario(predicted("READY", { willNotLand: SKIPPED })).status);
    await seeText(pill(page, 13370), "will not land: conflicts with #13208");
    await seeText(summary(page), "Prediction: 4 PRs will not land");
  });
});

test("stale: the earlier prediction stays on the rows, marked as being updated", async () => {
  await withPage(scenario(predicted("PENDING", { stale: true, willNotLand: [13370] }), { prs: rows.slice(0, 3) }), async (page) => {
    await ready(page);
    await seeText(summary(page), "Prediction (updating…): 1 PR will not land: #13370.");
    const toggle = row(page, 13370).locator("summary");
    assert.equal(await deepText(toggle), "will not land: conflicts with #13208 (updating)");
    assert.match(await toggle.getAttribute("class"), /\bstale\b/);
    assert.deepEqual(await axe(page), []);
  });
});

test("off: one muted line that says how to turn it on, no Check pairs", async () => {
  const reason = "start testingd with --git-dir to predict the deploy's merges";
  await withPage(scenario({ state: "MERGE_PREDICTION_STATE_OFF", reason }, { prs: rows.slice(0, 2) }), async (page) => {
    await ready(page);
    await seeText(summary(page), `Prediction off: ${reason}`);
    assert.match(await summary(page).getAttribute("class"), /\bmuted\b/);
    assert.equal(await summary(page).getAttribute("role"), null, "not an alert");
    assert.equal(await page.getByTestId("check-pairs").count(), 0);
  });
});

test("failed: the server's reason, as a warning", async () => {
  const reason = "git fetch failed: fatal: could not read from remote repository";
  await withPage(scenario(predicted("FAILED", { reason }), { prs: rows.slice(0, 2) }), async (page) => {
    await ready(page);
    await seeText(summary(page), `Prediction failed: ${reason}`);
    assert.match(await summary(page).getAttribute("class"), /\bwarn\b/);
    assert.equal(await summary(page).getAttribute("data-state"), "FAILED");
  });
});

test("a server without the prediction (no merge_prediction): no line at all", async () => {
  await withPage(scenario(undefined, { prs: rows.slice(0, 2) }), async (page) => {
    await ready(page);
    await page.getByTestId("drift-note").waitFor();
    assert.equal(await summary(page).count(), 0);
    assert.equal(await page.getByTestId("check-pairs").count(), 0);
  });
});

test("Check pairs: asks GetConflictMatrix once per click and lists the conflicting pairs", async () => {
  const matrix = {
    baseSha: BASE_SHA,
    numbers: [13208, 13269, 13370],
    pairs: [{ a: 13208, b: 13370, paths: [STATUS_PY] }, { a: 13269, b: 13370, paths: ["x.py", "y.py"] }],
    conflictsBase: [13371],
  };
  await withPage({ ...scenario(predicted("READY", { willNotLand: SKIPPED })), matrix }, async (page) => {
    await ready(page);
    assert.equal((await calls(page, "getConflictMatrix")).length, 0, "not asked before the click");
    await fake(page, (f) => f.hold("getConflictMatrix"));
    await page.getByTestId("check-pairs").click();
    await seeText(page.getByTestId("pairs"), "Checking pairs…");
    assert.equal(await page.getByTestId("check-pairs").isDisabled(), true);
    await fake(page, (f) => f.release("getConflictMatrix"));
    const items = page.getByTestId("pairs").getByRole("listitem");
    await until(async () => (await items.count()) === 2, "two pairs");
    assert.deepEqual(await items.allTextContents(), [`#13208 and #13370 conflict in ${STATUS_PY}`, "#13269 and #13370 conflict in x.py, y.py"]);
    assert.equal((await calls(page, "getConflictMatrix")).length, 1);
    assert.deepEqual(await axe(page), []);
    // A change to the set: the answer was for the old one, so it goes.
    await fake(page, (f) => f.externalChange(true));
    await until(async () => (await items.count()) === 0, "the old answer gone");
  });
});

test("Check pairs: no conflicting pairs", async () => {
  await withPage({ ...scenario(predicted("READY")), matrix: { numbers: [13208, 13269] } }, async (page) => {
    await ready(page);
    await page.getByTestId("check-pairs").click();
    await seeText(page.getByTestId("pairs"), "No two PRs conflict with each other.");
  });
});

test("Check pairs: each error in words", async () => {
  const cases = [
    ["FailedPrecondition", "deploy prediction is off: start testingd with --git-dir", "deploy prediction is off: start testingd with --git-dir"],
    ["Unavailable", "the repository mirror has not fetched the base branch yet; ask again shortly",
      "Git could not check which PRs conflict yet. Try again shortly. (the repository mirror has not fetched the base branch yet; ask again shortly)"],
    ["DeadlineExceeded", "the conflict matrix is still being computed; ask again", "Git is still checking which PRs conflict: ask again in a moment."],
  ];
  await withPage(scenario(predicted("READY")), async (page) => {
    await ready(page);
    for (const [code, message, text] of cases) {
      await fake(page, (f, [c, m]) => f.fail("getConflictMatrix", c, m), [code, message]);
      await page.getByTestId("check-pairs").click();
      const alert = page.getByTestId("pairs").getByRole("alert");
      await until(async () => (await alert.count()) === 1 && (await deepText(alert)) === text, () => `${code}: "${text}"`);
    }
  });
});
