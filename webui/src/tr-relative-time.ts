// <tr-relative-time>: "3 minutes ago" that keeps itself current. All instances
// share one 1-second ticker, running only while any is on the page; the
// absolute UTC time is in the tooltip and the datetime attribute.
import { LitElement, html } from "lit";
import { customElement, property } from "lit/decorators.js";
import { formatTime, timeAgo } from "./format.js";

const live = new Set<TrRelativeTime>();
let ticker: ReturnType<typeof setInterval> | undefined;

function tick() {
  for (const el of live) el.requestUpdate();
}

@customElement("tr-relative-time")
export class TrRelativeTime extends LitElement {
  /** The time, in ms since the epoch; nothing is shown when undefined. */
  @property({ type: Number }) ms: number | undefined;

  override connectedCallback(): void {
    super.connectedCallback();
    live.add(this);
    ticker ??= setInterval(tick, 1000);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    live.delete(this);
    if (live.size === 0) {
      clearInterval(ticker);
      ticker = undefined;
    }
  }

  override render() {
    if (this.ms === undefined) return html``;
    return html`<time datetime=${new Date(this.ms).toISOString()} title=${formatTime(this.ms)}
      >${timeAgo(this.ms, Date.now())}</time
    >`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    "tr-relative-time": TrRelativeTime;
  }
}
