// "Add to testing" links: ?add=REFS fills the add form and focuses its button,
// leaves the address bar, and adds nothing until the button is pressed.
import assert from "node:assert/strict";
import { test } from "node:test";
import { axe, calls, pr, ready, row, seeText, status, until, withPage } from "./harness.mjs";

const URL13 = "https://github.com/internetarchive/openlibrary/pull/13";

/** Opens the test page again with `search` as its query (withPage opens it bare). */
async function openWith(page, search) {
  await page.goto(new URL(search, page.url()).href);
  await page.getByRole("heading", { name: "Server status" }).waitFor();
}

const input = (page) => page.getByRole("textbox", { name: "Add PRs" });
const addButton = (page) => page.getByRole("button", { name: "Add PRs" });

/** The element focused inside the add form's shadow root, as "tag.text". */
const focusedInForm = (page) =>
  page.evaluate(() => {
    const form = document.querySelector("tr-app")?.shadowRoot?.querySelector("tr-add-form");
    const el = form?.shadowRoot?.activeElement;
    return el ? `${el.localName}:${el.textContent.trim()}` : "";
  });

test("?add= fills the form and focuses Add; nothing is added until the click", async () => {
  await withPage({ status: status({ prs: [pr(1)] }) }, async (page) => {
    await openWith(page, `?tab=x&add=${encodeURIComponent(`${URL13}/files`)},%2314+15&add=16,junk,https://example.com/pull/9,%2314`);
    await ready(page);
    // Repeated and comma/space separated; URLs, #N and N kept, the rest and repeats dropped.
    await until(async () => (await input(page).inputValue()) === `${URL13}/files #14 15 16`, "the form filled from the link");
    await seeText(page.getByTestId("add-from-link"), "Filled in from a link: nothing is added until you press Add PRs.");
    await until(async () => (await focusedInForm(page)) === "button:Add PRs", "the Add button focused");
    // Out of the address bar (other parameters kept): a reload does not fill it again.
    assert.equal(new URL(page.url()).search, "?tab=x");
    assert.deepEqual(await calls(page, "addPRs"), [], "nothing added by opening the link");
    assert.equal(await row(page, 13).count(), 0);
    assert.deepEqual(await axe(page), []);

    await addButton(page).click();
    await until(async () => (await calls(page, "addPRs")).length === 1, "one AddPRs call");
    assert.deepEqual((await calls(page, "addPRs"))[0].refs, [`${URL13}/files`, "#14", "15", "16"]);
    for (const n of [13, 14, 15, 16]) await row(page, n).waitFor();
    assert.equal(await page.getByTestId("add-from-link").count(), 0, "the note goes once they are sent");

    await page.reload();
    await ready(page);
    assert.equal(await input(page).inputValue(), "");
    assert.equal(await page.getByTestId("add-from-link").count(), 0);
  });
});

test("?add= with nothing usable fills nothing, and still leaves the address bar", async () => {
  await withPage({ status: status() }, async (page) => {
    await openWith(page, "?add=https://github.com/internetarchive/openlibrary/issues/5,abc");
    await ready(page);
    assert.equal(await input(page).inputValue(), "");
    assert.equal(await page.getByTestId("add-from-link").count(), 0);
    assert.equal(new URL(page.url()).search, "");
  });
});

test("editing the filled-in refs drops the note; Enter on the focused button adds", async () => {
  await withPage({ status: status() }, async (page) => {
    await openWith(page, "?add=21");
    await ready(page);
    await until(async () => (await focusedInForm(page)) === "button:Add PRs", "the Add button focused");
    await input(page).fill("21 22");
    assert.equal(await page.getByTestId("add-from-link").count(), 0);
    await addButton(page).focus();
    await page.keyboard.press("Enter");
    await row(page, 22).waitFor();
    assert.deepEqual((await calls(page, "addPRs"))[0].refs, ["21", "22"]);
  });
});

test("signed out: the link's refs survive into the sign-in link, to fill the form after signing in", async () => {
  const anonymous = {
    info: { serviceVersion: "v1.2.3", viewer: { signedIn: false, maintainer: false, authMode: "openlibrary" } },
    statusError: { code: "Unauthenticated", message: "sign in to Open Library as a maintainer to use the testing panel" },
  };
  await withPage(anonymous, async (page) => {
    await openWith(page, "?add=13269,13270");
    const link = page.getByTestId("maintainers-only").getByRole("link", { name: "Sign in to Open Library as a maintainer" });
    await link.waitFor();
    const redirect = () => link.getAttribute("href").then((h) => new URLSearchParams(h.split("?")[1]).get("redirect"));
    await until(async () => (await redirect()).endsWith("?add=13269,13270"), "the sign-in redirect with ?add=");
    assert.equal(new URL(page.url()).searchParams.get("add"), "13269,13270");
    assert.deepEqual(await calls(page, "addPRs"), []);
  });
});
