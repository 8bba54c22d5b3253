// <tr-pr-table>: the testing set. Batch first: a checkbox per row with
// select-all and shift-click ranges, and one toolbar that sends a single RPC for
// the whole selection (Enable, Disable, Update, Unstage, Remove).
import { LitElement, css, html } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import { repeat } from "lit/directives/repeat.js";
import { RemoveEvent, SelectEvent, StageEvent } from "./events.js";
import { Stage, type MergePrediction, type PullRequest } from "./gen/openlibrary/testing/v1/testing_pb.js";
import { base } from "./styles.js";
import "./tr-pr-row.js";

@customElement("tr-pr-table")
export class TrPrTable extends LitElement {
  static override styles = [
    base,
    css`
      :host {
        display: block;
      }
      .toolbar {
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        gap: 0.4rem;
        margin: 0.75rem 0 0.5rem;
        min-height: 2rem;
      }
      .count {
        font-size: 0.9rem;
        margin-right: 0.5rem;
      }
      .scroll {
        overflow-x: auto;
      }
      .table {
        display: grid;
        grid-template-columns: 2.5rem 3.75rem minmax(14rem, 1fr) 4.75rem 4.75rem max-content max-content;
      }
      .head,
      .headrow,
      .body {
        display: grid;
        grid-column: 1 / -1;
        grid-template-columns: subgrid;
      }
      .head [role="columnheader"] {
        font-size: 0.7rem;
        font-weight: 600;
        text-transform: uppercase;
        letter-spacing: 0.06em;
        color: var(--tr-muted);
        padding: 0.3rem 0.5rem;
        text-align: center;
        align-self: end;
      }
      .head [role="columnheader"].left {
        text-align: left;
      }
      .all {
        display: none;
      }
      .blank {
        color: var(--tr-muted);
        padding: 1rem 0.5rem;
      }
      @media (max-width: 720px) {
        .table,
        .body {
          display: block;
        }
        .head,
        .headrow {
          display: flex;
        }
        .head [role="columnheader"]:first-child {
          display: flex;
          align-items: center;
          gap: 0.5rem;
          text-transform: none;
          letter-spacing: normal;
          font-size: 0.85rem;
          font-weight: 400;
        }
        .all {
          display: inline;
        }
        .head [role="columnheader"]:not(:first-child) {
          position: absolute;
          width: 1px;
          height: 1px;
          overflow: hidden;
          clip: rect(0 0 0 0);
        }
      }
    `,
  ];

  @property({ attribute: false }) rows: readonly PullRequest[] = [];
  @property() repo = "";
  @property({ attribute: false }) prediction: MergePrediction | undefined;

  @state() private selected: ReadonlySet<number> = new Set();
  /** The row index of the last checkbox click: the anchor of a shift-click range. */
  private anchor: number | undefined;
  private marked = false;

  private get selectable(): number[] {
    return this.rows.filter((r) => r.inSet).map((r) => r.number);
  }

  override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has("rows")) {
      // Rows that left the set (or were removed) leave the selection.
      const live = new Set(this.selectable);
      const kept = [...this.selected].filter((n) => live.has(n));
      if (kept.length !== this.selected.size) this.selected = new Set(kept);
    }
  }

  override updated(): void {
    // A performance mark when the first rows are all in the DOM: the UI benchmark
    // (scripts/bench.mjs) measures navigation start → this mark.
    if (this.marked || this.rows.length === 0) return;
    this.marked = true;
    const rows = [...this.renderRoot.querySelectorAll("tr-pr-row")];
    void Promise.all(rows.map((r) => r.updateComplete)).then(() =>
      performance.mark("tr-table-rendered", { detail: { rows: rows.length } }),
    );
  }

  /** Clears the selection (Escape). */
  clearSelection(): void {
    this.selected = new Set();
    this.anchor = undefined;
  }

  private onSelect(e: SelectEvent) {
    e.stopPropagation();
    const numbers = this.rows.map((r) => r.number);
    const index = numbers.indexOf(e.number);
    const next = new Set(this.selected);
    let range = [e.number];
    if (e.shift && this.anchor !== undefined) {
      const [from, to] = [Math.min(this.anchor, index), Math.max(this.anchor, index)];
      range = this.rows.slice(from, to + 1).filter((r) => r.inSet).map((r) => r.number);
    }
    for (const n of range) {
      if (e.selected) next.add(n);
      else next.delete(n);
    }
    this.anchor = index;
    this.selected = next;
  }

  private toggleAll(e: Event) {
    const all = (e.target as HTMLInputElement).checked;
    this.selected = new Set(all ? this.selectable : []);
    this.anchor = undefined;
  }

  private bulk(make: (numbers: number[]) => Event) {
    const numbers = this.selectable.filter((n) => this.selected.has(n));
    if (numbers.length) this.dispatchEvent(make(numbers));
  }

  private renderToolbar() {
    const n = this.selected.size;
    const none = n === 0;
    const stage = (s: Stage) => () => this.bulk((ns) => new StageEvent(ns, s));
    return html`<div class="toolbar" role="toolbar" aria-label="Selected PRs" data-testid="bulk-toolbar">
      <span class="count" aria-live="polite" data-testid="selection-count">${none ? "No PRs selected" : `${n} selected`}</span>
      <button ?disabled=${none} @click=${stage(Stage.ENABLE)}>Enable</button>
      <button ?disabled=${none} @click=${stage(Stage.DISABLE)}>Disable</button>
      <button ?disabled=${none} @click=${stage(Stage.PULL_LATEST)}>Update</button>
      <button ?disabled=${none} @click=${stage(Stage.UNSTAGE)}>Unstage</button>
      <button class="danger" ?disabled=${none} @click=${() => this.bulk((ns) => new RemoveEvent(ns))}>Remove</button>
    </div>`;
  }

  override render() {
    if (this.rows.length === 0) return html`<p class="blank" data-testid="no-prs">No PRs in testing set.</p>`;
    const selectable = this.selectable;
    const count = selectable.filter((n) => this.selected.has(n)).length;
    const all = count > 0 && count === selectable.length;
    return html`${this.renderToolbar()}
      <div class="scroll">
        <div class="table" role="table" aria-label="PRs in the testing set">
          <div class="head" role="rowgroup">
            <div role="row" class="headrow">
              <div role="columnheader">
                <input type="checkbox" aria-label="Select all PRs" data-testid="select-all"
                  .checked=${all} .indeterminate=${count > 0 && !all} ?disabled=${selectable.length === 0}
                  @change=${this.toggleAll} />
                <span class="all" aria-hidden="true">Select all</span>
              </div>
              <div role="columnheader">Next deploy</div>
              <div role="columnheader" class="left">PR</div>
              <div role="columnheader">Author</div>
              <div role="columnheader">Assignee</div>
              <div role="columnheader" class="left">Drift</div>
              <div role="columnheader"><span class="visually-hidden">Actions</span></div>
            </div>
          </div>
          <div class="body" role="rowgroup" @tr-select=${this.onSelect}>
            ${repeat(
              this.rows,
              (pr) => pr.number,
              (pr) => html`<tr-pr-row .pr=${pr} .repo=${this.repo} .prediction=${this.prediction}
                ?selected=${this.selected.has(pr.number)}></tr-pr-row>`,
            )}
          </div>
        </div>
      </div>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    "tr-pr-table": TrPrTable;
  }
}
