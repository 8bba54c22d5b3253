// <tr-notices>: what happened — errors (an alert region), results and the Undo of
// a removal (a polite status region). Nothing fails silently: every error lands
// here until dismissed.
import { LitElement, css, html, nothing } from "lit";
import { customElement, property } from "lit/decorators.js";
import { RestoreEvent } from "./events.js";
import { signInUrl } from "./format.js";
import { close } from "./icons.js";
import { base } from "./styles.js";

export interface Notice {
  id: number;
  kind: "error" | "info" | "undo";
  text: string;
  detail?: string;
  /** Offer a sign-in link. */
  signIn?: boolean;
  /** For undo notices: the PRs RestorePRs brings back. */
  restore?: number[];
  /** A link to follow (e.g. the Jenkins queue item). */
  link?: { href: string; text: string };
}

export class DismissEvent extends Event {
  static readonly type = "tr-dismiss";
  constructor(readonly id: number) {
    super(DismissEvent.type, { bubbles: true, composed: true });
  }
}

@customElement("tr-notices")
export class TrNotices extends LitElement {
  static override styles = [
    base,
    css`
      :host {
        display: block;
      }
      ul {
        list-style: none;
        margin: 0;
        padding: 0;
        display: grid;
        gap: 0.4rem;
      }
      ul:not(:empty) {
        margin: 0.5rem 0;
      }
      li {
        display: flex;
        align-items: center;
        gap: 0.75rem;
        padding: 0.4rem 0.4rem 0.4rem 0.75rem;
        border-radius: var(--tr-radius);
        border: 1px solid var(--tr-border);
        background: var(--tr-surface);
      }
      li.error {
        border-color: var(--tr-danger);
        background: var(--tr-danger-bg);
      }
      .text {
        flex: 1;
      }
      .detail {
        display: block;
        font-size: 0.85rem;
      }
      button.icon {
        background: none;
        border: none;
      }
    `,
  ];

  @property({ attribute: false }) notices: readonly Notice[] = [];

  private item(n: Notice) {
    return html`<li class=${n.kind} data-testid=${`notice-${n.kind}`}>
      <span class="text"
        >${n.text} ${n.signIn ? html`<a href=${signInUrl()}>Sign in to Open Library as a maintainer</a>` : nothing}
        ${n.link ? html`<a href=${n.link.href} target="_blank" rel="noopener noreferrer">${n.link.text}</a>` : nothing}
        ${n.detail ? html`<span class="detail muted">${n.detail}</span>` : nothing}</span
      >
      ${n.restore ? html`<button @click=${() => this.dispatchEvent(new RestoreEvent(n.restore!))}>Undo</button>` : nothing}
      <button class="icon" aria-label="Dismiss" @click=${() => this.dispatchEvent(new DismissEvent(n.id))}>${close}</button>
    </li>`;
  }

  override render() {
    const errors = this.notices.filter((n) => n.kind === "error");
    const others = this.notices.filter((n) => n.kind !== "error");
    return html`<div role="alert" data-testid="errors"><ul>${errors.map((n) => this.item(n))}</ul></div>
      <div role="status" aria-live="polite" data-testid="messages"><ul>${others.map((n) => this.item(n))}</ul></div>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    "tr-notices": TrNotices;
  }
  interface HTMLElementEventMap {
    "tr-dismiss": DismissEvent;
  }
}
