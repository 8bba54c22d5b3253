// The end-to-end tests' world: the real testingd binary, run by internal/e2eserver
// against fake GitHub and Jenkins, and headless Debian Chromium pointed at it.
//
// The binaries come from $TESTINGD_BIN and $E2ESERVER_BIN (the Makefile builds them
// into bin/), or are built here into the repository's bin/ (git-ignored) once per
// process with `go build`.
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { launchChromium, loopbackOnly } from "../test/browser.mjs";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const run = promisify(execFile);

let built;
/** The paths of the testingd and e2eserver binaries, building them when not given. */
export function binaries() {
  built ??= (async () => {
    const testingd = process.env.TESTINGD_BIN || join(repo, "bin", "testingd");
    const e2eserver = process.env.E2ESERVER_BIN || join(repo, "bin", "e2eserver");
    if (!process.env.TESTINGD_BIN) await run("go", ["build", "-o", testingd, "./cmd/testingd"], { cwd: repo });
    if (!process.env.E2ESERVER_BIN) await run("go", ["build", "-o", e2eserver, "./internal/e2eserver"], { cwd: repo });
    for (const p of [testingd, e2eserver]) if (!existsSync(p)) throw new Error(`${p} is missing`);
    return { testingd, e2eserver };
  })();
  return built;
}

/**
 * Starts e2eserver (testingd + fakes). `prs`: 0 = the realistic 12-PR world,
 * N = N open PRs; `git`: the deploy prediction's world instead (a real git
 * repository where queued PRs conflict, testingd run with --git-dir). Resolves to the world: its URLs and control calls; `close()`
 * ends e2eserver, which ends testingd and the fakes.
 */
export async function startWorld({ prs = 0, git = false, verbose = !!process.env.E2E_VERBOSE } = {}) {
  const { testingd, e2eserver } = await binaries();
  const args = ["-testingd", testingd, "-prs", String(prs)];
  if (git) args.push("-git");
  if (verbose) args.push("-v");
  const child = spawn(e2eserver, args, { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr = (stderr + d).slice(-20_000);
    if (verbose) process.stderr.write(d);
  });
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const info = await new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    const timer = setTimeout(() => reject(new Error(`e2eserver said nothing in 30 s\n${stderr}`)), 30_000);
    lines.once("line", (line) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(line));
      } catch (e) {
        reject(new Error(`e2eserver: ${line}\n${stderr}`));
      }
    });
    exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`e2eserver exited (${code}) before it was ready\n${stderr}`));
    });
  });

  const control = async (method, path) => {
    const res = await fetch(info.control + path, { method });
    if (!res.ok) throw new Error(`control ${method} ${path}: ${res.status} ${await res.text()}`);
    return res.json();
  };

  return {
    ...info,
    /** testingd's log, when it failed. */
    stderr: () => stderr,
    /** The Jenkins triggers the fake received. */
    triggers: () => control("GET", "triggers"),
    /** Jenkins' latest run becomes a new run in this status (IN_PROGRESS, SUCCESS, FAILURE). */
    jenkins: (status) => control("POST", `jenkins?status=${status}`),
    /** Stops testingd (SIGTERM); the fakes stay. */
    stopServer: () => control("POST", "stop"),
    /** Starts testingd again on the same address. */
    startServer: () => control("POST", "start"),
    /** A Connect (JSON) call to the real testingd, as a second client would make it. */
    rpc: (method, body = {}) => rpc(info.url, method, body),
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        child.stdin.end(); // e2eserver stops testingd and the fakes when its stdin closes
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

/** A unary Connect call with JSON, as any client (the CLI, a bot, a second page) makes it. */
export async function rpc(base, method, body = {}) {
  const res = await fetch(`${base}openlibrary.testing.v1.TestingService/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method}: ${res.status} ${json.code}: ${json.message}`);
  return json;
}

/** Chromium for the real page: loopback only, GitHub avatars drawn locally. */
export async function browser(options) {
  const b = await launchChromium(options);
  await loopbackOnly(b.context);
  return b;
}

const axeSource = readFile(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/** axe-core on the whole page (shadow roots included): serious and critical violations. */
export async function axe(page) {
  await page.addScriptTag({ content: await axeSource });
  return page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" > ")).join(", ")}`);
  });
}
