// <tr-plan>: what the next deploy changes — "N changes will be applied", one line
// per change in the server's order (add, update pin, enable, disable, remove),
// with the pin it moves to or the reason of a removal.
import { LitElement, css, html, nothing } from "lit";
import { customElement, property } from "lit/decorators.js";
import { changeLabels, plural, prUrl, removeReasons } from "./format.js";
import { ChangeKind, type PendingChange } from "./gen/openlibrary/testing/v1/testing_pb.js";
import { base } from "./styles.js";

@customElement("tr-plan")
export class TrPlan extends LitElement {
  static override styles = [
    base,
    css`
      :host {
        display: block;
      }
      h3 {
        font-size: 1rem;
        margin: 0 0 0.4rem;
      }
      ul {
        list-style: none;
        margin: 0;
        padding: 0;
      }
      li {
        display: grid;
        grid-template-columns: 6.5rem auto minmax(0, 1fr) auto;
        gap: 0.5rem;
        align-items: baseline;
        padding: 0.15rem 0;
      }
      .kind {
        font-size: 0.68rem;
        font-weight: 700;
        text-transform: uppercase;
        letter-spacing: 0.05em;
      }
      [data-kind="ADD"] .kind {
        color: var(--tr-success);
      }
      [data-kind="PIN"] .kind {
        color: var(--tr-warning);
      }
      [data-kind="ENABLE"] .kind,
      [data-kind="DISABLE"] .kind {
        color: var(--tr-muted);
      }
      [data-kind="REMOVE"] .kind {
        color: var(--tr-danger);
      }
      .num {
        font-family: var(--tr-mono);
        font-size: 0.85rem;
      }
      .title {
        overflow: hidden;
        text-overflow: ellipsis;
        white-space: nowrap;
      }
      .detail {
        font-size: 0.85rem;
      }
      p {
        margin: 0;
      }
    `,
  ];

  @property({ attribute: false }) changes: readonly PendingChange[] = [];
  @property() repo = "";

  override render() {
    const n = this.changes.length;
    if (n === 0) return html`<p class="muted" data-testid="plan-empty">Nothing to deploy — testing matches the current set.</p>`;
    return html`<h3 id="plan-h" data-testid="plan-heading">${plural(n, "change")} will be applied</h3>
      <ul aria-labelledby="plan-h" data-testid="plan">
        ${this.changes.map(
          (c) => html`<li data-kind=${ChangeKind[c.kind] ?? String(c.kind)}>
            <span class="kind">${changeLabels[c.kind] || ChangeKind[c.kind] || String(c.kind)}</span>
            <a class="num" href=${prUrl(this.repo, c.number)}>#${c.number}</a>
            <span class="title" title=${c.title}>${c.title}</span>
            <span class="detail muted"
              >${c.kind === ChangeKind.REMOVE
                ? (removeReasons[c.reason] ?? c.reason)
                : c.detail
                  ? html`<code>${c.detail}</code>`
                  : nothing}</span
            >
          </li>`,
        )}
      </ul>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    "tr-plan": TrPlan;
  }
}
