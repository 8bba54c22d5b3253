// <tr-add-form>: the add box. Takes numbers, #N, PR URLs and deploy lines,
// separated by spaces, commas or lines. The app makes the AddPRs call and hands
// back one result per ref, shown next to the input; the text of the refs that
// failed stays in the input so they can be fixed and sent again.
import { LitElement, css, html, nothing } from "lit";
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
    `,
  ];

  /** An AddPRs call is running. */
  @property({ type: Boolean }) busy = false;
  /** The results of the last call, one per ref; a new array for each call. */
  @property({ attribute: false }) results: readonly AddResult[] | undefined;

  @state() private value = "";
  @query("input") private input!: HTMLInputElement;

  /** Focuses the input (the "/" shortcut). */
  override focus(): void {
    this.input?.focus();
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
          @input=${(e: Event) => (this.value = (e.target as HTMLInputElement).value)}
        />
        <button class="primary" type="submit" ?disabled=${this.busy} aria-busy=${this.busy ? "true" : "false"}>
          ${this.busy ? html`<span class="spinner" aria-hidden="true"></span>` : nothing} Add PRs
        </button>
      </form>
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
