// <tr-github-status>: how testingd stands with GitHub, in one compact line under
// the drift note — requests left of the rate limit and when it resets, when GitHub
// last answered, webhooks (the last delivery) or polling (how often), and the last
// reconcile — and a warning while the budget is down to the reserve kept for
// people (testingd then asks GitHub nothing on its own and shows cached data until
// the reset). Unset facts are left out; nothing at all without a GitHubStatus.
import { LitElement, css, html, nothing, type TemplateResult } from "lit";
import { customElement, property } from "lit/decorators.js";
import { formatClock, formatCount, formatDuration, formatTime, tsMs } from "./format.js";
import type { GitHubStatus } from "./gen/openlibrary/testing/v1/testing_pb.js";
import { base } from "./styles.js";
import "./tr-relative-time.js";

/** Whether the status says the budget is low (a drift_error of that kind repeats the warning). */
export const budgetLowError = /^GitHub rate-limit budget low\b/;

@customElement("tr-github-status")
export class TrGitHubStatus extends LitElement {
  static override styles = [
    base,
    css`
      :host {
        display: block;
        font-size: 0.85rem;
      }
      .low {
        padding: 0.4rem 0.75rem;
        border: 1px solid var(--tr-warning);
        background: var(--tr-warning-bg);
        border-radius: var(--tr-radius);
        margin-bottom: 0.4rem;
      }
      .low strong {
        color: var(--tr-warning);
      }
      .line {
        margin: 0;
      }
      .item {
        white-space: nowrap;
      }
    `,
  ];

  @property({ attribute: false }) github: GitHubStatus | undefined;

  /** "GitHub: 4,812 / 5,000 requests left", "resets 17:03 UTC": when the budget is known. */
  private budget(g: GitHubStatus, now: number): TemplateResult[] {
    if (g.rateLimit <= 0) return [];
    const reset = tsMs(g.rateReset);
    const [left, limit] = [formatCount(g.rateRemaining), formatCount(g.rateLimit)];
    const items = [
      html`<span title=${`Rate limit: ${left} of ${limit} left in this window`}
        >GitHub: ${left} / ${limit} requests left</span
      >`,
    ];
    if (reset !== undefined) {
      const verb = reset > now ? "resets" : "reset";
      items.push(html`<span title=${`The rate-limit window ${verb} at ${formatTime(reset)}`}>${verb} ${formatClock(reset, now)}</span>`);
    }
    return items;
  }

  private webhooks(g: GitHubStatus): TemplateResult {
    const fresh = g.freshForSeconds;
    if (!g.webhooksEnabled) {
      return html`<span
        title="No webhook secret: testingd asks GitHub again once its facts are this old"
        >webhooks off${fresh > 0 ? ` — changes are polled every ${formatDuration(fresh)}` : ""}</span
      >`;
    }
    const last = tsMs(g.lastWebhookAt);
    const title = `GitHub tells testingd of changes by webhook${fresh > 0 ? `; facts stay fresh for ${formatDuration(fresh)}` : ""}`;
    return last !== undefined
      ? html`<span title=${title}>webhooks: last delivery <tr-relative-time .ms=${last}></tr-relative-time></span>`
      : html`<span title=${title}>webhooks on, no delivery yet</span>`;
  }

  private renderLow(g: GitHubStatus, now: number) {
    const reset = tsMs(g.rateReset);
    const count = g.rateLimit > 0 ? ` ${formatCount(g.rateRemaining)} of ${formatCount(g.rateLimit)} requests left.` : "";
    const until = reset !== undefined && reset > now ? formatClock(reset, now) : "the rate limit resets";
    return html`<div class="low" data-testid="github-budget-low">
      <strong>GitHub budget low:</strong>${count} testingd stopped asking GitHub in the background and shows cached data
      until ${until}; what is left is kept for what you do here (Refresh, Add, Update).
    </div>`;
  }

  override render() {
    const g = this.github;
    if (!g) return nothing;
    const now = Date.now();
    const contact = tsMs(g.lastContactAt);
    const reconcile = tsMs(g.lastReconcileAt);
    const items = [
      ...this.budget(g, now),
      contact !== undefined
        ? html`<span title="When GitHub last answered"
            >last answer <tr-relative-time .ms=${contact}></tr-relative-time></span
          >`
        : undefined,
      this.webhooks(g),
      reconcile !== undefined
        ? html`<span title="Every PR of the set re-checked on GitHub (catches missed webhooks)"
            >reconciled <tr-relative-time .ms=${reconcile}></tr-relative-time></span
          >`
        : undefined,
    ].filter((x) => x !== undefined);
    // The warning sits in a live region of its own (no ticking times in it), so
    // that the budget running low is announced.
    return html`<div role="status">${g.budgetLow ? this.renderLow(g, now) : nothing}</div>
      <p class="line muted" data-testid="github-status">
        ${items.map((x, i) => html`${i ? html` <span aria-hidden="true">·</span> ` : nothing}<span class="item">${x}</span>`)}
      </p>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    "tr-github-status": TrGitHubStatus;
  }
}
