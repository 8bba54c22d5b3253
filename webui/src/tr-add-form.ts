// <tr-add-form>: the add box. Takes numbers, #N, PR URLs and deploy lines,
// separated by spaces, commas or lines. The app makes the AddPRs call and hands
// back one result per ref, shown next to the input; the text of the refs that
// failed stays in the input so they can be fixed and sent again.
//
// "Add to testing" links and the bookmarklet open the page with ?add=REFS: the form
// is filled from them and the Add button focused, but nothing is added until that
// button is pressed (a link must never change the testing set by itself).
import { LitElement, ReactiveElement, css, html, nothing } from "lit";
import { customElement, property, query, state } from "lit/decorators.js";
import { AddEvent } from "./events.js";
import { splitRefs } from "./format.js";
import { AddOutcome, type AddResult } from "./gen/openlibrary/testing/v1/testing_pb.js";
import { base } from "./styles.js";

const outcomeText: Record<AddOutcome, string> = {
  [AddOutcome.UNSPECIFIED]: "unknown outcome",
  [AddOutcome.ADDED]: "added",
  [AddOutcome.ALREADY_PRESENT]: "already in the testing set",
  [AddOutcome.INVALID_REF]: "not a pull request reference",
  [AddOutcome.NOT_FOUND]: "GitHub has no such pull request",
  [AddOutcome.GITHUB_UNAVAILABLE]: "GitHub is unavailable; try again shortly",
  [AddOutcome.NOT_OPEN]: "merged or closed: nothing to test",
};

/** The query parameter of "add to testing" links: `?add=13269,13270&add=URL`. */
export const ADD_PARAM = "add";

// What a link may pre-fill: a PR number, #N, or a GitHub pull request URL (any
// suffix, such as /files). The server still judges each ref when Add is pressed.
const linkRef = /^(?:#?\d{1,10}|(?:https?:\/\/)?(?:www\.)?github\.com\/[\w.-]+\/[\w.-]+\/pull\/\d{1,10}(?:[/?#]\S*)?)$/i;

/** The most refs one AddPRs call takes (API.md); a link cannot ask for more. */
const MAX_LINK_REFS = 100;

/**
 * The refs a page URL's query asks to add: every `add` parameter (repeatable),
 * each split on spaces and commas, keeping only PR numbers, #N and PR URLs,
 * without duplicates.
 */
export function linkRefs(search: string): string[] {
  const refs = new Set<string>();
  for (const value of new URLSearchParams(search).getAll(ADD_PARAM)) {
    for (const ref of value.split(/[\s,]+/)) {
      if (linkRef.test(ref) && refs.size < MAX_LINK_REFS) refs.add(ref);
    }
  }
  return [...refs];
}

/** The URL without its `add` parameters; null when it has none. */
function withoutAddParam(href: string): URL | null {
  const url = new URL(href);
  if (!url.searchParams.has(ADD_PARAM)) return null;
  url.searchParams.delete(ADD_PARAM);
  return url;
}

/** Refs that went through: their text leaves the input. */
export function succeeded(r: AddResult): boolean {
  return r.outcome === AddOutcome.ADDED || r.outcome === AddOutcome.ALREADY_PRESENT;
}

@customElement("tr-add-form")
export class TrAddForm extends LitElement {
  static override styles = [
    base,
    css`
      :host {
        display: block;
      }
      form {
        display: flex;
        gap: 0.5rem;
        flex-wrap: wrap;
      }
      input {
        flex: 1 1 18rem;
        min-width: 0;
      }
      ul {
        list-style: none;
        margin: 0.5rem 0 0;
        padding: 0;
        font-size: 0.9rem;
      }
      li {
        display: flex;
        gap: 0.4rem;
        align-items: baseline;
      }
      li[data-ok] .mark {
        color: var(--tr-success);
      }
      li:not([data-ok]) .mark {
        color: var(--tr-danger);
      }
      .mark {
        font-weight: 700;
      }
      .from-link {
        margin: 0.5rem 0 0;
        font-size: 0.9rem;
      }
    `,
  ];

  /** An AddPRs call is running. */
  @property({ type: Boolean }) busy = false;
  /** The results of the last call, one per ref; a new array for each call. */
  @property({ attribute: false }) results: readonly AddResult[] | undefined;

  @state() private value = "";
  /** The text a link filled in, until it is sent or edited away. */
  @state() private fromLink = "";
  /** The search part of the URL as the link had it, to put back if the form goes unused. */
  private linkSearch = "";
  /** The element whose shadow tree holds this form (tr-app), while connected. */
  private owner: ReactiveElement | undefined;
  @query("input") private input!: HTMLInputElement;
  @query("button[type=submit]") private button!: HTMLButtonElement;

  /** Focuses the input (the "/" shortcut). */
  override focus(): void {
    this.input?.focus();
  }

  override connectedCallback(): void {
    super.connectedCallback();
    const root = this.getRootNode();
    this.owner = root instanceof ShadowRoot && root.host instanceof ReactiveElement ? root.host : undefined;
    // Read the link's refs once, then take them out of the address bar so that a
    // reload or a bookmark of this page does not fill the form again.
    const url = withoutAddParam(location.href);
    if (!url) return;
    const refs = linkRefs(location.search);
    this.linkSearch = location.search;
    history.replaceState(history.state, "", url);
    if (refs.length === 0) return;
    this.value = this.fromLink = refs.join(" ");
    // Focus only: pressing Enter or Space adds them, a person decides.
    void this.updateComplete.then(() => this.button?.focus());
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    // The form went away before anyone used it (the page found the viewer is not a
    // maintainer and shows "sign in" instead): put the link's refs back into the
    // address, so that signing in comes back here with the form filled.
    // The owner is rendering right now and built its sign-in link from the old
    // address, so it renders once more, after this update.
    const owner = this.owner;
    this.owner = undefined;
    if (this.fromLink && this.value === this.fromLink && !withoutAddParam(location.href)) {
      const url = new URL(location.href);
      url.search = this.linkSearch;
      history.replaceState(history.state, "", url);
      queueMicrotask(() => owner?.requestUpdate());
    }
  }

  override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has("results") && this.results) {
      this.value = this.results.filter((r) => !succeeded(r)).map((r) => r.ref).join(" ");
    }
  }

  private submit(e: Event) {
    e.preventDefault();
    if (this.busy) return;
    const refs = splitRefs(this.input.value);
    if (refs.length === 0) return;
    this.value = this.input.value;
    this.fromLink = "";
    this.dispatchEvent(new AddEvent(refs));
  }

  override render() {
    return html`<form @submit=${this.submit} data-testid="add-form">
        <label class="visually-hidden" for="add">Add PRs</label>
        <input
          id="add"
          name="pr"
          type="text"
          autocomplete="off"
          spellcheck="false"
          placeholder="PR numbers or URLs, space or comma separated"
          aria-describedby="add-results"
          .value=${this.value}
          @input=${(e: Event) => {
            this.value = (e.target as HTMLInputElement).value;
            if (this.value !== this.fromLink) this.fromLink = "";
          }}
        />
        <button class="primary" type="submit" ?disabled=${this.busy} aria-busy=${this.busy ? "true" : "false"}
          aria-describedby=${this.fromLink ? "add-from-link" : nothing}>
          ${this.busy ? html`<span class="spinner" aria-hidden="true"></span>` : nothing} Add PRs
        </button>
      </form>
      ${this.fromLink
        ? html`<p id="add-from-link" class="from-link muted" data-testid="add-from-link">
            Filled in from a link: nothing is added until you press <strong>Add PRs</strong>.
          </p>`
        : nothing}
      <ul id="add-results" role="status" aria-live="polite" aria-label="Results of adding PRs" data-testid="add-results">
        ${(this.results ?? []).map(
          (r) => html`<li ?data-ok=${succeeded(r)} data-outcome=${AddOutcome[r.outcome]}>
            <span class="mark" aria-hidden="true">${succeeded(r) ? "✓" : "✗"}</span
            ><span class="visually-hidden">${succeeded(r) ? "" : "Not added: "}</span>
            <span
              >${r.number === 0
                ? html`<code>${r.ref}</code>: `
                : r.message.includes(`#${r.number}`)
                  ? nothing
                  : `#${r.number}: `}${r.message || outcomeText[r.outcome]}</span
            >
          </li>`,
        )}
      </ul>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    "tr-add-form": TrAddForm;
  }
}
