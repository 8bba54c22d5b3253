// <tr-confirm-deploy>: the one confirmation before a deploy, listing the plan the
// user is about to apply and the PRs the merge prediction expects it to skip (the
// deploy goes ahead without them). A native modal <dialog>: focus is trapped,
// Escape cancels.
import { LitElement, css, html, nothing } from "lit";
import { customElement, property, query } from "lit/decorators.js";
import { plural } from "./format.js";
import type { PendingChange } from "./gen/openlibrary/testing/v1/testing_pb.js";
import { base } from "./styles.js";
import "./tr-plan.js";

export class ConfirmEvent extends Event {
  static readonly type = "tr-confirm";
  constructor(readonly confirmed: boolean) {
    super(ConfirmEvent.type, { bubbles: true, composed: true });
  }
}

@customElement("tr-confirm-deploy")
export class TrConfirmDeploy extends LitElement {
  static override styles = [
    base,
    css`
      dialog {
        color: var(--tr-fg);
        background: var(--tr-bg);
        border: 1px solid var(--tr-border);
        border-radius: var(--tr-radius);
        width: min(40rem, calc(100vw - 2rem));
        padding: 1.25rem;
      }
      dialog::backdrop {
        background: rgb(0 0 0 / 0.4);
      }
      .buttons {
        display: flex;
        justify-content: flex-end;
        gap: 0.5rem;
        margin-top: 1rem;
      }
      .warn {
        color: var(--tr-warning);
      }
    `,
  ];

  @property({ type: Boolean }) open = false;
  @property({ attribute: false }) changes: readonly PendingChange[] = [];
  @property() repo = "";
  @property({ type: Boolean }) jenkinsConfigured = true;
  /** "#13370 will not land: conflicts with #13208 in a.py", one per PR predicted to be skipped. */
  @property({ attribute: false }) skips: readonly string[] = [];
  @query("dialog") private dialog!: HTMLDialogElement;

  override updated(changed: Map<string, unknown>): void {
    if (!changed.has("open")) return;
    if (this.open && !this.dialog.open) this.dialog.showModal();
    if (!this.open && this.dialog.open) this.dialog.close();
  }

  private answer(yes: boolean) {
    this.dispatchEvent(new ConfirmEvent(yes));
  }

  override render() {
    return html`<dialog aria-labelledby="confirm-h" data-testid="confirm-deploy"
      @cancel=${(e: Event) => {
        e.preventDefault();
        this.answer(false);
      }}>
      <h2 id="confirm-h">Deploy ${plural(this.changes.length, "change")} to testing?</h2>
      ${this.open ? html`<tr-plan .changes=${this.changes} .repo=${this.repo}></tr-plan>` : nothing}
      ${this.skips.length
        ? html`<ul class="warn" aria-label="Predicted with git" data-testid="will-not-land">
            ${this.skips.map((t) => html`<li>${t}</li>`)}
          </ul>`
        : nothing}
      ${this.jenkinsConfigured
        ? nothing
        : html`<p class="warn">Deploy is not configured on this instance: the set advances, but nothing is deployed.</p>`}
      <div class="buttons">
        <button @click=${() => this.answer(false)}>Cancel</button>
        <button class="primary" autofocus @click=${() => this.answer(true)}>Deploy</button>
      </div>
    </dialog>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    "tr-confirm-deploy": TrConfirmDeploy;
  }
  interface HTMLElementEventMap {
    "tr-confirm": ConfirmEvent;
  }
}
