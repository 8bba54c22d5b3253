// One headless Debian Chromium (playwright-core, a persistent context in a fresh
// profile) with the flags that keep it quiet on a closed network
// (/work/shared/spec/TOOLCHAIN.md). Shared by the component tests (harness.mjs),
// the end-to-end tests (e2e/), the screenshots and the benchmark (scripts/).
import { chromium } from "playwright-core";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const chromiumPath = () => process.env.CHROMIUM_PATH || "/usr/bin/chromium";

export const chromiumArgs = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Launches Chromium; `close()` ends it and removes its profile. Options are
 * playwright's launchPersistentContext options (viewport, colorScheme, …), and
 * extraArgs: more command-line flags.
 */
export async function launchChromium({ extraArgs = [], ...options } = {}) {
  const profile = await mkdtemp(join(tmpdir(), "testingd-webui-"));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath(),
      headless: true,
      args: [...chromiumArgs, ...extraArgs],
      locale: "en-US",
      timezoneId: "UTC",
      viewport: { width: 1280, height: 900 },
      ...options,
    });
  } catch (e) {
    await rm(profile, { recursive: true, force: true });
    throw e;
  }
  return {
    context,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Keeps a context on this machine: requests to any host but the loopback are
 * refused, except GitHub avatars, which are answered with a drawn letter tile
 * (the fakes hand out real avatar URLs).
 */
export async function loopbackOnly(context) {
  await context.route(
    (url) => !["127.0.0.1", "localhost", "[::1]"].includes(url.hostname) && url.protocol !== "data:",
    (route) => {
      const url = new URL(route.request().url());
      if (url.hostname === "avatars.githubusercontent.com") {
        return route.fulfill({ status: 200, contentType: "image/svg+xml", body: avatarSvg(url.pathname) });
      }
      return route.abort("blockedbyclient");
    },
  );
}

/** A GitHub-like identicon: a 5×5 mirrored pattern in one colour, from the URL. */
function avatarSvg(seed) {
  let h = 2166136261;
  for (const c of seed) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  const hue = h % 360;
  const cells = [];
  for (let i = 0; i < 15; i++) {
    if ((h >>> (i + 9)) & 1 || i === 7) {
      const x = i % 3, y = Math.floor(i / 3);
      cells.push(`<rect x="${x}" y="${y}" width="1.02" height="1.02"/>`);
      if (x < 2) cells.push(`<rect x="${4 - x}" y="${y}" width="1.02" height="1.02"/>`);
    }
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="-0.6 -0.6 6.2 6.2"><rect x="-0.6" y="-0.6" width="6.2" height="6.2" fill="hsl(${hue} 25% 93%)"/><g fill="hsl(${hue} 55% 50%)">${cells.join("")}</g></svg>`;
}
