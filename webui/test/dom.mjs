// Waiting on the page: polling with a deadline (never fixed sleeps) and the text
// of an element as rendered, shadow roots included. Shared by the component and
// end-to-end tests.
import assert from "node:assert/strict";

/** Polls fn (sync or async) until it returns a truthy value; fails after `ms`. */
export async function until(fn, what = "condition", ms = 5000) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) assert.fail(`timed out waiting for ${typeof what === "function" ? what() : what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The text of an element in the flat tree: shadow roots included, as rendered. */
export function deepText(locator) {
  return locator.first().evaluate((el) => {
    const walk = (n) => {
      if (n.nodeType === Node.TEXT_NODE) return n.data;
      if (n.nodeType !== Node.ELEMENT_NODE && n.nodeType !== Node.DOCUMENT_FRAGMENT_NODE) return "";
      if (n.localName === "style" || n.localName === "script") return "";
      if (n.localName === "slot") return [...n.assignedNodes({ flatten: true })].map(walk).join("");
      const kids = n.shadowRoot ? n.shadowRoot.childNodes : n.childNodes;
      return [...kids].map(walk).join("");
    };
    return walk(el).replace(/\s+/g, " ").trim();
  });
}

/** Waits until the locator's (flat-tree) text contains `text`. */
export async function seeText(locator, text, ms) {
  let last = "";
  await until(async () => (last = await deepText(locator)).includes(text), () => `text "${text}" (have "${last.slice(0, 300)}")`, ms);
}
