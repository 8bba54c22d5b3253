// <tr-deploy-banner>: where the box stands — never deployed, last deploy N ago,
// deploying since N ago (and the Jenkins stage), succeeded / failed N ago — with a
// link to the Jenkins job. A polite live region: changes are announced.
import { LitElement, css, html, nothing } from "lit";
import { customElement, property } from "lit/decorators.js";
import { tsMs } from "./format.js";
import type { GetStatusResponse } from "./gen/openlibrary/testing/v1/testing_pb.js";
import { external } from "./icons.js";
import { base } from "./styles.js";
import "./tr-relative-time.js";

export type DeployState = "deploying" | "succeeded" | "failed" | "deployed" | "never";

/** Which state the banner shows: a running deploy first, then Jenkins' verdict, then the record. */
export function deployState(s: GetStatusResponse): DeployState {
  if (s.deploying) return "deploying";
  if (s.deployResult === "SUCCESS") return "succeeded";
  if (s.deployResult === "FAILURE" || s.deployResult === "ABORTED") return "failed";
  if (s.lastDeployAt) return "deployed";
  return "never";
}

@customElement("tr-deploy-banner")
export class TrDeployBanner extends LitElement {
  static override styles = [
    base,
    css`
      :host {
        display: block;
      }
      .banner {
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        gap: 0.5rem 1rem;
        padding: 0.5rem 0.75rem;
        border-radius: var(--tr-radius);
        border: 1px solid var(--tr-border);
        background: var(--tr-surface);
      }
      .chip {
        display: inline-flex;
        align-items: center;
        gap: 0.5rem;
        font-weight: 600;
      }
      .dot {
        width: 9px;
        height: 9px;
        border-radius: 50%;
        background: var(--tr-muted);
        flex: none;
      }
      [data-state="succeeded"] .dot,
      [data-state="deployed"] .dot {
        background: var(--tr-success);
      }
      [data-state="failed"] {
        border-color: var(--tr-danger);
        background: var(--tr-danger-bg);
      }
      [data-state="failed"] .dot {
        background: var(--tr-danger);
      }
      [data-state="deploying"] {
        border-color: var(--tr-warning);
        background: var(--tr-warning-bg);
      }
      [data-state="deploying"] .dot {
        background: hsl(24 100% 50%);
        animation: pulse 1.6s ease-in-out infinite;
      }
      @keyframes pulse {
        50% {
          opacity: 0.3;
        }
      }
      .note {
        font-size: 0.85rem;
        flex-basis: 100%;
      }
      a {
        display: inline-flex;
        align-items: center;
        gap: 0.25rem;
      }
    `,
  ];

  @property({ attribute: false }) status: GetStatusResponse | undefined;

  override render() {
    const s = this.status;
    if (!s) return nothing;
    const state = deployState(s);
    const run = s.deployRunId ? ` #${s.deployRunId}` : "";
    const ago = (ts: Parameters<typeof tsMs>[0]) => html`<tr-relative-time .ms=${tsMs(ts)}></tr-relative-time>`;
    let text;
    switch (state) {
      case "deploying":
        text = html`Deploying${run}, started ${ago(s.deployStartedAt)}${s.deployStage ? html` — <span data-testid="deploy-stage">${s.deployStage}</span>` : nothing}`;
        break;
      case "succeeded":
        text = html`Deploy${run} succeeded ${ago(s.deployFinishedAt)}`;
        break;
      case "failed":
        text = html`Deploy${run} ${s.deployResult === "ABORTED" ? "was aborted" : "failed"} ${ago(s.deployFinishedAt)}`;
        break;
      case "deployed":
        text = html`Last deploy ${ago(s.lastDeployAt)}`;
        break;
      default:
        text = html`Never deployed`;
    }
    return html`<div class="banner" data-state=${state} data-testid="deploy-banner">
      <span class="chip" role="status" aria-live="polite"><span class="dot" aria-hidden="true"></span><span>${text}</span></span>
      ${s.jenkinsUrl
        ? html`<a href=${s.jenkinsUrl} target="_blank" rel="noopener noreferrer">View Jenkins ${external}<span class="visually-hidden">(opens in a new tab)</span></a>`
        : nothing}
      ${state === "deploying" && s.deployStateGuessed
        ? html`<span class="note muted">Jenkins cannot be asked right now: “deploying” is a guess (10 minutes after the deploy started).</span>`
        : nothing}
      ${!s.jenkinsConfigured
        ? html`<span class="note muted">Deploy is not configured on this instance (no Jenkins token): a deploy advances the testing set but deploys nothing.</span>`
        : nothing}
    </div>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    "tr-deploy-banner": TrDeployBanner;
  }
}
