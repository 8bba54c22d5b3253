// <tr-history>: the audit trail (ListEvents) — who did what to which PRs, when,
// and each deploy's exact PR set. Loaded when opened, reloaded when the testing
// set changes, older pages on demand, filterable by PR number.
import { consume } from "@lit/context";
import { Task } from "@lit/task";
import { LitElement, css, html, nothing } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import { clientContext, type TestingClient } from "./client.js";
import { describe } from "./errors.js";
import { prUrl, shortSha, tsMs } from "./format.js";
import { EventKind, Stage, type Event as AuditEvent } from "./gen/openlibrary/testing/v1/testing_pb.js";
import { base } from "./styles.js";
import "./tr-relative-time.js";

const PAGE = 20;

const kindText: Record<EventKind, string> = {
  [EventKind.UNSPECIFIED]: "event",
  [EventKind.ADD]: "added",
  [EventKind.REMOVE]: "removed",
  [EventKind.RESTORE]: "restored",
  [EventKind.STAGE]: "staged",
  [EventKind.DEPLOY]: "deployed",
  [EventKind.DEPLOY_FAILED]: "deploy failed",
  [EventKind.EVICT_DRIFT]: "refreshed drift",
};

const stageText: Record<Stage, string> = {
  [Stage.UNSPECIFIED]: "",
  [Stage.ENABLE]: "enable",
  [Stage.DISABLE]: "disable",
  [Stage.PULL_LATEST]: "update",
  [Stage.UNSTAGE]: "unstage",
};

@customElement("tr-history")
export class TrHistory extends LitElement {
  static override styles = [
    base,
    css`
      :host {
        display: block;
      }
      summary {
        cursor: pointer;
        font-size: 1.15rem;
        font-weight: 700;
      }
      .filter {
        display: flex;
        gap: 0.5rem;
        align-items: center;
        margin: 0.75rem 0;
      }
      .filter input {
        width: 8rem;
      }
      ol {
        list-style: none;
        padding: 0;
        margin: 0;
      }
      li.event {
        padding: 0.5rem 0;
        border-top: 1px solid var(--tr-border);
      }
      .meta {
        font-size: 0.85rem;
      }
      .kind {
        font-weight: 600;
      }
      .failed .kind,
      .error {
        color: var(--tr-danger);
      }
      .prs {
        font-size: 0.85rem;
        margin: 0.25rem 0 0;
        padding-left: 1.25rem;
      }
    `,
  ];

  @consume({ context: clientContext, subscribe: true })
  @state()
  client: TestingClient | undefined;

  @property() repo = "";
  /** The state version shown; a new one reloads an open panel. */
  @property() version = "";

  @state() private open = false;
  @state() private pages = 1;
  @state() private number = 0;

  private events = new Task(this, {
    task: async ([client, open, , pages, number], { signal }) => {
      if (!client || !open) return undefined;
      const events: AuditEvent[] = [];
      let token = "";
      for (let i = 0; i < pages; i++) {
        const res = await client.listEvents({ pageSize: PAGE, pageToken: token, number }, { signal });
        events.push(...res.events);
        token = res.nextPageToken;
        if (!token) break;
      }
      return { events, more: token !== "" };
    },
    args: () => [this.client, this.open, this.version, this.pages, this.number] as const,
  });

  /** Opens the panel and moves focus to it (the "h" shortcut). */
  reveal(): void {
    this.open = true;
    this.renderRoot.querySelector("summary")?.focus();
  }

  private renderEvent(e: AuditEvent) {
    const failed = e.kind === EventKind.DEPLOY_FAILED;
    return html`<li class="event ${failed ? "failed" : ""}" data-kind=${EventKind[e.kind] ?? ""}>
      <div class="meta">
        <tr-relative-time .ms=${tsMs(e.time)}></tr-relative-time> ·
        <strong>${e.actor || "someone"}</strong>
        <span class="kind">${kindText[e.kind] ?? "event"}${e.kind === EventKind.STAGE && stageText[e.stage] ? ` (${stageText[e.stage]})` : ""}</span>
      </div>
      <div>${e.summary}</div>
      ${e.error ? html`<div class="error">${e.error}</div>` : nothing}
      ${e.jenkinsQueueUrl ? html`<a href=${e.jenkinsQueueUrl} target="_blank" rel="noopener noreferrer">Jenkins queue item</a>` : nothing}
      ${e.prs.length
        ? e.kind === EventKind.DEPLOY
          ? html`<details>
              <summary class="meta">The deployed set (${e.prs.length} PR${e.prs.length === 1 ? "" : "s"})</summary>
              <ul class="prs">
                ${e.prs.map(
                  (p) => html`<li>
                    <a href=${prUrl(this.repo, p.number)}>#${p.number}</a> ${p.title}
                    ${p.commit ? html`<code>${shortSha(p.commit)}</code>` : nothing}${p.active ? "" : " (off)"}
                  </li>`,
                )}
              </ul>
            </details>`
          : html`<ul class="prs">
              ${e.prs.map(
                (p) => html`<li><a href=${prUrl(this.repo, p.number)}>#${p.number}</a> ${p.title}${p.commit ? html` <code>${shortSha(p.commit)}</code>` : nothing}</li>`,
              )}
            </ul>`
        : nothing}
    </li>`;
  }

  private renderList(r: { events: AuditEvent[]; more: boolean } | undefined) {
    if (r === undefined) return nothing;
    if (r.events.length === 0) return html`<p class="muted">Nothing has happened yet.</p>`;
    return html`<ol data-testid="events">${r.events.map((e) => this.renderEvent(e))}</ol>
      ${r.more ? html`<button @click=${() => this.pages++}>Show older</button>` : nothing}`;
  }

  override render() {
    return html`<details
      data-testid="history"
      ?open=${this.open}
      @toggle=${(e: Event) => (this.open = (e.target as HTMLDetailsElement).open)}
    >
      <summary>History</summary>
      <div class="filter">
        <label for="pr-filter">Only PR #</label>
        <input id="pr-filter" type="number" min="1" inputmode="numeric"
          @change=${(e: Event) => {
            this.number = Number((e.target as HTMLInputElement).value) || 0;
            this.pages = 1;
          }} />
      </div>
      <div aria-live="polite">
        ${this.events.render({
          // Keep showing the last page while a reload runs: no flash on every change.
          pending: () => (this.events.value ? this.renderList(this.events.value) : html`<p class="muted">Loading the history…</p>`),
          error: (err) => html`<p class="error" role="alert">${describe(err, "history").text}</p>`,
          complete: (r) => this.renderList(r),
        })}
      </div>
    </details>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    "tr-history": TrHistory;
  }
}
