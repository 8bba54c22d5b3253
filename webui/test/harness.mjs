// The component tests' harness: one headless Debian Chromium per test file
// (playwright-core, a persistent context in a fresh profile), a tiny static
// server for the test page (test/.build: the real app on the fake testingd),
// a fake clock in every page, and small helpers. Run through `npm test`.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import http from "node:http";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium } from "./browser.mjs";

export { deepText, seeText, until } from "./dom.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), ".build");
const axePath = createRequire(import.meta.url).resolve("axe-core/axe.min.js");

/** The page's wall clock at the start of every test. */
export const NOW = Date.parse("2026-08-06T16:00:00Z");
/** An ISO time `min` minutes before NOW. */
export const ago = (min) => new Date(NOW - min * 60_000).toISOString();

export const REPO = "internetarchive/openlibrary";
export const sha = (n, salt = "a") => (String(n) + salt.repeat(40)).slice(0, 40);

/** A PullRequest as protobuf JSON: in the set, live, up to date. */
export function pr(number, o = {}) {
  return {
    number,
    title: `PR number ${number}`,
    commit: sha(number),
    headSha: sha(number),
    active: true,
    inSet: true,
    liveNow: true,
    author: "author",
    assignee: "",
    addedBy: "openlibrary",
    addedAt: ago(120),
    ...o,
  };
}

/** A GetStatusResponse as protobuf JSON. */
export function status(o = {}) {
  return {
    version: "v1",
    githubRepo: REPO,
    jenkinsConfigured: true,
    jenkinsUrl: "https://jenkins.invalid/job/ol-dev1-deploy%20(internal)/",
    lastDeployAt: ago(60),
    driftResolvedAt: ago(1),
    prs: [],
    ...o,
  };
}

export const maintainerInfo = {
  serviceVersion: "v1.2.3",
  vcsRevision: "0123456789abcdef0123",
  goVersion: "go1.26.8",
  host: "testing-box",
  startTime: ago(300),
  olRevision: "fedcba9",
  features: [
    { name: "merge-queue", value: "true" },
    { name: "beta", value: "usergroup: beta-testers" },
  ],
  viewer: { username: "mek", signedIn: true, maintainer: true, authMode: "openlibrary" },
};

const types = { ".js": "text/javascript", ".html": "text/html; charset=utf-8", ".svg": "image/svg+xml" };

let server;
let chromium;
let base;

before(async () => {
  server = http.createServer(async (req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    try {
      const body = path === "/axe.min.js" ? await readFile(axePath) : await readFile(join(root, path === "/" ? "index.html" : path));
      res.writeHead(200, { "content-type": types[extname(path)] ?? "text/html; charset=utf-8" });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${server.address().port}/`;
});

after(async () => {
  await chromium?.close();
  server?.close();
});

async function browser() {
  chromium ??= await launchChromium();
  return chromium.context;
}

/**
 * Opens the test page on a scenario and runs fn(page). The page has a fake clock
 * that starts at NOW and runs (pause it with page.clock.pauseAt to step time, or
 * from the start, at NOW + 1 s, with { paused: true }).
 * Any uncaught page error fails the test.
 */
export async function withPage(scenario, fn, { colorScheme = "light", viewport, paused = false } = {}) {
  const ctx = await browser();
  const page = await ctx.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  try {
    await page.emulateMedia({ colorScheme });
    if (viewport) await page.setViewportSize(viewport);
    await page.clock.install({ time: NOW });
    // The clock belongs to the browser context, which every test file's pages
    // share: a clock an earlier test paused would stay paused (and with it the
    // app's timers, such as the idle callback that loads its secondary chunk).
    // paused: the clock stands still from the start, a second after NOW (no timer fires).
    await (paused ? page.clock.pauseAt(NOW + 1000) : page.clock.resume());
    await page.addInitScript((s) => (window.__scenario = s), { info: maintainerInfo, ...scenario });
    await page.goto(base);
    await page.getByRole("heading", { name: "Server status" }).waitFor();
    await fn(page);
    assert.deepEqual(errors.map(String), [], "uncaught errors in the page");
  } finally {
    await page.close();
  }
}

/** Runs fn(window.fake, arg) in the page. */
export function fake(page, fn, arg) {
  return page.evaluate(([src, a]) => new Function("fake", "arg", `return (${src})(fake, arg)`)(window.fake, a), [fn.toString(), arg]);
}

/** The requests the fake received for a method, as JSON. */
export function calls(page, method) {
  return fake(page, (f, m) => f.callsOf(m), method);
}

export const row = (page, n) => page.locator(`[data-testid="pr-row-${n}"]`);
export const errorsRegion = (page) => page.locator('[data-testid="errors"]');
export const messages = (page) => page.locator('[data-testid="messages"]');

/** Waits until the page shows the status stream's first status. */
export async function ready(page) {
  await page.locator('[data-testid="deploy-banner"]').waitFor();
}

/** axe-core on the whole page (shadow roots included): serious and critical violations. */
export async function axe(page) {
  await page.addScriptTag({ url: base + "axe.min.js" });
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" > ")).join(", ")}`);
  });
  return result;
}
