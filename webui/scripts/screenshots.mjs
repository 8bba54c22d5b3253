// Screenshots of the real page for the README: `npm run screenshots` starts
// internal/e2eserver (the real testingd on fake GitHub and Jenkins, the realistic
// 12-PR world), opens the page in headless Debian Chromium at a desktop size in
// the light and the dark scheme and at a phone's size, and writes
// docs/screenshots/{desktop-light,desktop-dark,phone}.png.
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { until } from "../test/dom.mjs";
import { browser, startWorld } from "../e2e/world.mjs";

const out = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "docs", "screenshots");
const shots = [
  { name: "desktop-light", viewport: { width: 1280, height: 900 }, colorScheme: "light" },
  { name: "desktop-dark", viewport: { width: 1280, height: 900 }, colorScheme: "dark" },
  { name: "phone", viewport: { width: 390, height: 844 }, colorScheme: "light", deviceScaleFactor: 2, isMobile: true, hasTouch: true },
];

await mkdir(out, { recursive: true });
const world = await startWorld();
try {
  for (const shot of shots) {
    const chromium = await browser({ viewport: shot.viewport, colorScheme: shot.colorScheme, deviceScaleFactor: shot.deviceScaleFactor ?? 1, isMobile: shot.isMobile ?? false, hasTouch: shot.hasTouch ?? false });
    try {
      const page = chromium.context.pages()[0] ?? (await chromium.context.newPage());
      await page.goto(world.url);
      // The table with every row and its drift, the build result and the server's info.
      await until(async () => (await page.locator("tr-pr-row").count()) === 13, "the PR table", 15_000);
      // Drift resolved for every open PR.
      const unresolved = () => page.locator('tr-pr-row[data-state="in-set"][data-drift="unknown"]').count();
      await until(async () => (await unresolved()) === 0, "drift", 15_000);
      await page.getByTestId("build").locator("tr-build-result").waitFor();
      await page.getByTestId("info").locator("tr-system-info").waitFor();
      await page.evaluate(async () => {
        await document.fonts.ready;
        // Every avatar loaded (or fell back to its letter).
        const imgs = [];
        const walk = (root) => {
          for (const el of root.querySelectorAll("*")) {
            if (el.localName === "img") imgs.push(el);
            if (el.shadowRoot) walk(el.shadowRoot);
          }
        };
        walk(document);
        await Promise.all(imgs.map((img) => (img.complete ? null : new Promise((r) => img.addEventListener("load", r, { once: true }) || img.addEventListener("error", r, { once: true })))));
      });
      const path = join(out, `${shot.name}.png`);
      await page.screenshot({ path, animations: "disabled" });
      console.log(`wrote ${path}`);
    } finally {
      await chromium.close();
    }
  }
} finally {
  await world.close();
}
