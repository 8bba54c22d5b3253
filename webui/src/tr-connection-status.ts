// <tr-connection-status>: says when the live stream is down (the page then shows
// the last state it had) and when it retries, with a button to retry now.
import { LitElement, css, html, nothing } from "lit";
import { customElement, property } from "lit/decorators.js";
import type { Problem } from "./errors.js";
import type { Connection } from "./status-controller.js";
import { base } from "./styles.js";
import "./tr-relative-time.js";

export class RetryEvent extends Event {
  static readonly type = "tr-retry";
  constructor() {
    super(RetryEvent.type, { bubbles: true, composed: true });
  }
}

@customElement("tr-connection-status")
export class TrConnectionStatus extends LitElement {
  static override styles = [
    base,
    css`
      :host {
        display: block;
      }
      .offline {
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        gap: 0.5rem 1rem;
        padding: 0.5rem 0.75rem;
        border: 1px solid var(--tr-warning);
        background: var(--tr-warning-bg);
        border-radius: var(--tr-radius);
        margin-bottom: 1rem;
      }
      strong {
        color: var(--tr-warning);
      }
    `,
  ];

  @property() connection: Connection = "connecting";
  @property({ attribute: false }) problem: Problem | undefined;
  @property({ type: Number }) retryAt: number | undefined;
  /** Whether any status was ever shown (the page then shows stale data). */
  @property({ type: Boolean }) stale = false;

  override render() {
    // The live region is always there, so that going offline is announced.
    return html`<div role="status" aria-live="polite">
      ${this.connection === "offline"
        ? html`<div class="offline" data-testid="offline-banner">
            <strong>Offline</strong>
            <span
              >${this.stale ? "Live updates stopped; the page shows the last known state." : "Cannot load the testing set."}
              ${this.problem ? html`<span class="muted">${this.problem.text}</span>` : nothing}
              ${this.retryAt ? html`Reconnecting <tr-relative-time .ms=${this.retryAt}></tr-relative-time>…` : nothing}</span
            >
            <button @click=${() => this.dispatchEvent(new RetryEvent())}>Reconnect now</button>
          </div>`
        : nothing}
    </div>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    "tr-connection-status": TrConnectionStatus;
  }
  interface HTMLElementEventMap {
    "tr-retry": RetryEvent;
  }
}
