// <tr-app>: the page. It owns the one Connect client (provided to the tree with
// @lit/context), the live status (StatusController: one WatchStatus stream), and
// every write: view components only send typed events up. Each write carries the
// version the user was looking at, applies the status it returns at once, and on
// ABORTED re-syncs and says that someone else changed the set.
import { Code } from "@connectrpc/connect";
import { provide } from "@lit/context";
import { Task, TaskStatus, initialState } from "@lit/task";
import { LitElement, css, html, nothing } from "lit";
import { customElement, property, query, state } from "lit/decorators.js";
import { clientContext, type TestingClient } from "./client.js";
import { describe, type Action } from "./errors.js";
import { AddEvent, RemoveEvent, RestoreEvent, StageEvent } from "./events.js";
import { FaviconBadge } from "./favicon-badge.js";
import { formatTime, plural, predictionLine, shortSha, signInUrl, skipReason, tsMs } from "./format.js";
import {
  DeployOutcome,
  MergePredictionState,
  type GetStatusResponse,
  type ItemResult,
  type AddResult,
  type PendingChange,
} from "./gen/openlibrary/testing/v1/testing_pb.js";
import { refresh, rocket } from "./icons.js";
import { StatusController } from "./status-controller.js";
import { base, tokens } from "./styles.js";
import type { ConfirmEvent } from "./tr-confirm-deploy.js";
import type { Notice } from "./tr-notices.js";
import type { TrAddForm } from "./tr-add-form.js";
import { budgetLowError } from "./tr-github-status.js";
import type { TrHistory } from "./tr-history.js";
import type { TrPrTable } from "./tr-pr-table.js";
import type { TrShortcuts } from "./tr-shortcuts.js";
import "./tr-add-form.js";
import "./tr-connection-status.js";
import "./tr-deploy-banner.js";
import "./tr-notices.js";
import "./tr-plan.js";
import "./tr-pr-table.js";
import "./tr-relative-time.js";
// The rest (history, build result, system information, feature flags and the two
// dialogs) is in ./secondary.js, loaded on demand: see loadSecondary.

/** Runs fn when the browser is idle (soon after the first paint), or within 1 s. */
const whenIdle = (fn: () => void) =>
  typeof requestIdleCallback === "function" ? requestIdleCallback(fn, { timeout: 1000 }) : setTimeout(fn, 50);

const MAX_NOTICES = 5;

@customElement("tr-app")
export class TrApp extends LitElement {
  static override styles = [
    tokens,
    base,
    css`
      :host {
        display: block;
        min-height: 100vh;
        background: var(--tr-bg);
        line-height: 1.45;
      }
      .page {
        max-width: 78rem;
        margin: 0 auto;
        padding: 1rem 1.25rem 6rem;
      }
      header {
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        justify-content: space-between;
        gap: 0.5rem 1rem;
        margin-bottom: 1rem;
      }
      h1 {
        font-size: 1.5rem;
        margin: 0;
      }
      .viewer {
        display: flex;
        gap: 0.75rem;
        align-items: center;
        font-size: 0.9rem;
      }
      section {
        margin: 0 0 1.5rem;
      }
      .card {
        border: 1px solid var(--tr-border);
        border-radius: calc(var(--tr-radius) * 1.5);
        padding: 1rem 1.25rem;
      }
      .card > * + * {
        margin-top: 0.75rem;
      }
      .deploy {
        border-top: 1px solid var(--tr-border);
        padding-top: 1rem;
        display: grid;
        gap: 0.75rem;
      }
      .buttons {
        display: flex;
        flex-wrap: wrap;
        gap: 0.5rem;
        align-items: center;
      }
      .drift-note {
        font-size: 0.85rem;
        margin: 0 0 0.15rem;
      }
      .warn {
        color: var(--tr-warning);
      }
      .pairs ul {
        margin: 0.25rem 0;
        font-size: 0.85rem;
      }
      .gate {
        border: 1px solid var(--tr-border);
        background: var(--tr-warning-bg);
        border-radius: var(--tr-radius);
        padding: 0.6rem 0.9rem;
      }
      .gate p {
        margin: 0.25rem 0;
      }
      tr-notices {
        position: fixed;
        left: 50%;
        bottom: 0.75rem;
        transform: translateX(-50%);
        width: min(40rem, calc(100vw - 1.5rem));
        z-index: 10;
      }
      @media (hover: none) and (pointer: coarse) {
        /* A phone or tablet without a keyboard: no shortcuts to show. */
        .viewer button[aria-keyshortcuts] {
          display: none;
        }
      }
      @media (max-width: 720px) {
        .page {
          padding: 0.75rem 0.6rem 6rem;
        }
        .card {
          padding: 0.75rem;
        }
      }
    `,
  ];

  /** The Connect client; set once before the element is connected (see mount.ts). */
  @provide({ context: clientContext })
  @property({ attribute: false })
  client: TestingClient | undefined;

  readonly live = new StatusController(this, () => this.client);

  @state() private notices: readonly Notice[] = [];
  @state() private addResults: readonly AddResult[] | undefined;
  @state() private adding = false;
  @state() private deploying = false;
  @state() private refreshing = false;
  @state() private writes = 0;
  @state() private confirm:
    | { changes: readonly PendingChange[]; version: string; jenkins: boolean; skips: readonly string[] }
    | undefined;
  @state() private shortcutsOpen = false;
  /** The version "Check pairs" was asked for: its answer is not shown for another. */
  @state() private pairsFor: string | undefined;

  @query("tr-add-form") private addForm!: TrAddForm | null;
  @query("tr-pr-table") private table!: TrPrTable | null;
  @query("tr-history") private history!: TrHistory | null;
  @query("tr-shortcuts") private shortcuts!: TrShortcuts | null;

  /** Whether ./secondary.js is loaded (its elements defined); until then their sections say "Loading…". */
  @state() private secondary = false;
  private secondaryScheduled = false;
  private secondaryImport: Promise<void> | undefined;

  private readonly badge = new FaviconBadge();
  private queue: Promise<unknown> = Promise.resolve();
  private nextId = 1;
  private lastDeploy: number | undefined | null = null;

  private readonly info = new Task(this, {
    task: async ([client], { signal }) => (client ? client.getServerInfo({}, { signal }) : undefined),
    args: () => [this.client] as const,
  });

  private readonly build = new Task(this, {
    // Not before the first status (or the news that there will be none): its key
    // would change at once, and the page would fetch and render the transcript
    // twice while the testing set is still on its way.
    task: async ([client, , waiting], { signal }) =>
      waiting ? initialState : client ? client.getBuildResult({}, { signal }) : undefined,
    // A new run, verdict or set of conflicts means a new transcript.
    args: () => {
      const s = this.live.status;
      const key = s
        ? [s.deployRunId, s.deployResult, tsMs(s.deployFinishedAt), tsMs(s.lastDeployAt), s.mergeConflicts.join()].join("|")
        : "";
      return [this.client, key, !s && this.live.connection === "connecting"] as const;
    },
  });

  /** GetConflictMatrix, on demand ("Check pairs"): git may take a while, the server goes on. */
  private readonly pairs = new Task(this, {
    task: async ([client], { signal }) => client?.getConflictMatrix({}, { signal, timeoutMs: 30_000 }),
    args: () => [this.client] as const,
    autoRun: false,
  });

  override connectedCallback(): void {
    super.connectedCallback();
    document.addEventListener("keydown", this.onKey);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    document.removeEventListener("keydown", this.onKey);
    this.badge.set(false);
  }

  override willUpdate(): void {
    // An Undo lasts until the next deploy: then the removal is on the box for good.
    const last = tsMs(this.live.status?.lastDeployAt);
    if (this.live.status) {
      if (this.lastDeploy !== null && last !== this.lastDeploy) {
        this.notices = this.notices.filter((n) => n.kind !== "undo");
      }
      this.lastDeploy = last;
    }
  }

  override updated(): void {
    this.badge.set(this.live.status?.deploying ?? false);
    // Once the first status is on the page (or the news that there is none),
    // fetch the secondary chunk when the browser is next idle: after the table's
    // paint, not before it.
    if (!this.secondaryScheduled && (this.live.status || this.live.connection !== "connecting")) {
      this.secondaryScheduled = true;
      whenIdle(() => void this.loadSecondary());
    }
  }

  /**
   * Loads ./secondary.js (once); resolves when its elements are defined and
   * rendered. A failure (say, testingd was upgraded under an open page and the
   * chunk is gone) is a notice; the next call tries again.
   */
  private loadSecondary(): Promise<void> {
    this.secondaryImport ??= import("./secondary.js").then(
      async () => {
        this.secondary = true;
        await this.updateComplete;
      },
      (err: unknown) => {
        this.secondaryImport = undefined; // a later call tries again
        this.notify({ kind: "error", ...describe(err, "load") });
      },
    );
    return this.secondaryImport;
  }

  // ---- notices ----

  private notify(n: Omit<Notice, "id">): void {
    const kept = this.notices.filter((o) => !(o.kind === n.kind && o.text === n.text));
    this.notices = [...kept, { ...n, id: this.nextId++ }].slice(-MAX_NOTICES);
  }

  private dismiss(id: number): void {
    this.notices = this.notices.filter((n) => n.id !== id);
  }

  // ---- writes ----

  /**
   * Runs one write after the ones before it (so each sends the version its
   * predecessor produced), applies the returned status, and turns a failure into
   * a notice. Resolves to undefined on failure.
   */
  private write<R extends { status?: GetStatusResponse }>(
    action: Action,
    call: (client: TestingClient, version: string) => Promise<R>,
  ): Promise<R | undefined> {
    const run = async (): Promise<R | undefined> => {
      const client = this.client;
      if (!client) return undefined;
      this.writes++;
      try {
        const res = await call(client, this.live.status?.version ?? "");
        if (res.status) this.live.apply(res.status);
        return res;
      } catch (err) {
        const p = describe(err, action);
        if (p.code === Code.Aborted) await this.resync(client);
        this.notify({ kind: "error", text: p.text, detail: p.detail, signIn: p.signIn });
        return undefined;
      } finally {
        this.writes--;
      }
    };
    const p = this.queue.then(run);
    this.queue = p;
    return p;
  }

  /** After ABORTED: show what is there now, without waiting for the stream. */
  private async resync(client: TestingClient): Promise<void> {
    try {
      this.live.apply(await client.getStatus({}));
    } catch (err) {
      this.notify({ kind: "error", ...describe(err, "load") });
    }
  }

  /** Says which items of a batch did not apply, and why (the server's words). */
  private reportItems(results: readonly ItemResult[]): void {
    const failed = results.filter((r) => !r.applied);
    if (failed.length === 0) return;
    const applied = results.length - failed.length;
    const text =
      results.length === 1
        ? failed[0]!.message || `#${failed[0]!.number}: nothing changed.`
        : `${applied} of ${results.length} applied.`;
    this.notify({
      kind: "info",
      text,
      detail: results.length === 1 ? undefined : failed.map((r) => r.message || `#${r.number}: nothing changed`).join("; "),
    });
  }

  private async onAdd(e: AddEvent) {
    this.adding = true;
    const res = await this.write("add", (c, v) => c.addPRs({ refs: e.refs, expectedVersion: v }));
    this.adding = false;
    if (res) this.addResults = res.results;
  }

  private async onStage(e: StageEvent) {
    const res = await this.write("stage", (c, v) => c.stagePRs({ numbers: e.numbers, stage: e.stage, expectedVersion: v }));
    if (res) this.reportItems(res.results);
  }

  private async onRemove(e: RemoveEvent) {
    const res = await this.write("remove", (c, v) => c.removePRs({ numbers: e.numbers, expectedVersion: v }));
    if (!res) return;
    this.reportItems(res.results);
    const removed = res.results.filter((r) => r.applied).map((r) => r.number);
    if (removed.length) {
      this.notify({
        kind: "undo",
        text: `Removed ${removed.map((n) => `#${n}`).join(", ")}. You can undo this until the next deploy.`,
        restore: removed,
      });
    }
  }

  private async onRestore(e: RestoreEvent) {
    const res = await this.write("restore", (c, v) => c.restorePRs({ numbers: e.numbers, expectedVersion: v }));
    if (!res) return;
    this.reportItems(res.results);
    const back = new Set(res.results.filter((r) => r.applied || r.outcome !== 0).map((r) => r.number));
    // The undo offer is spent once its PRs are back (or cannot come back).
    this.notices = this.notices.filter((n) => !(n.kind === "undo" && n.restore?.every((x) => back.has(x))));
  }

  private async refreshDrift() {
    this.refreshing = true;
    await this.write("refresh", (c, v) => c.evictDrift({ numbers: [], expectedVersion: v }));
    this.refreshing = false;
  }

  private askDeploy() {
    const s = this.live.status;
    if (!s || !s.hasPending) return;
    void this.loadSecondary(); // the dialog's element: shown as soon as it is there
    // The plan and version the user confirms are the ones the deploy insists on.
    // With them, what the merge prediction expects the deploy to skip, and why.
    const mp = s.mergePrediction;
    const skips = (mp?.willNotLand ?? []).map((n) => {
      const pr = s.prs.find((p) => p.number === n);
      const why = pr ? skipReason(pr, mp!.baseBranch) : "";
      return `#${n} will not land${why ? `: ${why}` : ""}`;
    });
    this.confirm = { changes: s.pendingChanges, version: s.version, jenkins: s.jenkinsConfigured, skips };
  }

  private async onConfirm(e: ConfirmEvent) {
    const plan = this.confirm;
    this.confirm = undefined;
    if (!e.confirmed || !plan) return;
    this.deploying = true;
    const res = await this.write("deploy", (c) => c.deploy({ expectedVersion: plan.version }));
    this.deploying = false;
    if (!res) return;
    if (res.outcome === DeployOutcome.UNCONFIGURED) {
      this.notify({
        kind: "info",
        text: "Deploy is not configured on this instance — the testing set was advanced, but nothing was deployed.",
      });
    } else {
      this.notify({
        kind: "info",
        text: `Deploy started: Jenkins accepted the build (${plural(res.applied.length, "change")}).`,
        link: res.jenkinsQueueUrl ? { href: res.jenkinsQueueUrl, text: "Jenkins queue item" } : undefined,
      });
    }
  }

  // ---- keyboard ----

  private readonly onKey = (e: KeyboardEvent) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
    const target = e.composedPath()[0];
    const typing =
      (target instanceof HTMLInputElement && !["checkbox", "radio", "button", "submit"].includes(target.type)) ||
      target instanceof HTMLTextAreaElement ||
      (target instanceof HTMLElement && target.isContentEditable);
    if (e.key === "Escape") {
      this.table?.clearSelection();
      return;
    }
    // The dialog itself, not shortcutsOpen: that flag is reset by the close event,
    // a task after the dialog has already gone.
    if (typing || this.shortcuts?.showing || this.confirm) return;
    if (e.key === "/") {
      e.preventDefault();
      this.addForm?.focus();
    } else if (e.key === "?") {
      e.preventDefault();
      this.openShortcuts();
    } else if (e.key === "h") {
      void this.loadSecondary().then(() => this.history?.reveal());
    }
  };

  private openShortcuts() {
    this.shortcutsOpen = true;
    void this.loadSecondary();
  }

  // ---- rendering ----

  private renderGate() {
    const viewer = this.info.value?.viewer;
    return html`<div class="gate" data-testid="maintainers-only">
      <p>The testing environment panel is only visible to maintainers.</p>
      <p>
        ${viewer?.signedIn ? html`You are signed in as <strong>${viewer.username}</strong>, who is not a maintainer. ` : nothing}
        <a href=${signInUrl()}>Sign in to Open Library as a maintainer</a>
      </p>
    </div>`;
  }

  private renderDeploySection(s: GetStatusResponse) {
    const checked = tsMs(s.driftResolvedAt);
    // While the budget is low, tr-github-status says so (and why the drift is not
    // refreshing): the drift note does not repeat it.
    const low = s.github?.budgetLow ?? false;
    const error = low && budgetLowError.test(s.driftError) ? "" : s.driftError;
    return html`<div class="deploy">
      <tr-plan .changes=${s.pendingChanges} .repo=${s.githubRepo}></tr-plan>
      <div class="buttons">
        <button class="primary" data-testid="deploy" ?disabled=${!s.hasPending || this.deploying}
          aria-busy=${this.deploying ? "true" : "false"} @click=${this.askDeploy}>
          ${this.deploying ? html`<span class="spinner" aria-hidden="true"></span>` : rocket} Deploy
        </button>
        <button data-testid="refresh" ?disabled=${this.refreshing} aria-busy=${this.refreshing ? "true" : "false"}
          @click=${this.refreshDrift}>
          ${this.refreshing ? html`<span class="spinner" aria-hidden="true"></span>` : refresh} Refresh from GitHub
        </button>
      </div>
      ${this.renderPrediction(s)}
      <div class="github">
        <p class="drift-note muted" data-testid="drift-note">
          ${checked !== undefined ? html`Drift checked <tr-relative-time .ms=${checked}></tr-relative-time>.` : "Drift not checked yet."}
          ${error ? html`<span class="warn">${error}</span>` : s.driftStale && !low ? "Refreshing…" : nothing}
        </p>
        <tr-github-status .github=${s.github}></tr-github-status>
      </div>
    </div>`;
  }

  /** The merge prediction's line, "Check pairs" and its answer. */
  private renderPrediction(s: GetStatusResponse) {
    const p = s.mergePrediction;
    const line = predictionLine(p);
    if (!p || !line) return nothing;
    const fetched = tsMs(p.fetchedAt);
    return html`<div class="pairs">
      <p class="drift-note ${line.warn ? "warn" : "muted"}" data-testid="prediction-summary" data-state=${MergePredictionState[p.state]}
        title=${p.baseSha ? `Merged with git onto ${p.baseBranch} at ${shortSha(p.baseSha)}${fetched ? `, fetched ${formatTime(fetched)}` : ""}` : nothing}>
        ${line.text}
        ${p.state === MergePredictionState.OFF
          ? nothing
          : html`<button class="link" data-testid="check-pairs" ?disabled=${this.pairs.status === TaskStatus.PENDING}
              @click=${() => {
                this.pairsFor = s.version;
                void this.pairs.run();
              }}>Check pairs</button>`}
      </p>
      <div aria-live="polite" data-testid="pairs">
        ${this.pairsFor === s.version
          ? this.pairs.render({
              pending: () => html`<p class="drift-note muted">Checking pairs…</p>`,
              complete: (m) =>
                m &&
                // The PRs left out (conflicting with the base, not fetched) are the rows' warnings already.
                (m.pairs.length
                  ? html`<ul class="warn">
                      ${m.pairs.map((x) => html`<li>#${x.a} and #${x.b} conflict in ${x.paths.join(", ")}</li>`)}
                    </ul>`
                  : html`<p class="drift-note">No two PRs conflict with each other.</p>`),
              error: (err) => {
                const e = describe(err, "pairs");
                return html`<p class="drift-note warn" role="alert">${e.text}${e.detail ? ` (${e.detail})` : ""}</p>`;
              },
            })
          : nothing}
      </div>
    </div>`;
  }

  private renderTesting() {
    const viewer = this.info.value?.viewer;
    const live = this.live;
    if (live.connection === "denied" || (viewer && !viewer.maintainer)) return this.renderGate();
    const s = live.status;
    return html`<tr-connection-status .connection=${live.connection} .problem=${live.problem} .retryAt=${live.retryAt}
        ?stale=${s !== undefined} @tr-retry=${live.retryNow}></tr-connection-status>
      ${s
        ? html`<tr-deploy-banner .status=${s}></tr-deploy-banner>`
        : live.connection === "connecting"
          ? html`<p role="status" data-testid="loading">Loading testing environment…</p>`
          : nothing}
      <tr-add-form .busy=${this.adding} .results=${this.addResults} @tr-add=${this.onAdd}></tr-add-form>
      ${s
        ? html`<tr-pr-table .rows=${s.prs} .repo=${s.githubRepo} .prediction=${s.mergePrediction} @tr-stage=${this.onStage} @tr-remove=${this.onRemove}
              @tr-restore=${this.onRestore}></tr-pr-table>
            ${this.renderDeploySection(s)}`
        : nothing}`;
  }

  override render() {
    const loading = html`<p class="muted">Loading…</p>`;
    const viewer = this.info.value?.viewer;
    const s = this.live.status;
    const maintainer = this.live.connection !== "denied" && (viewer?.maintainer ?? true);
    return html`<div class="page">
      <header>
        <h1>Server status</h1>
        <div class="viewer">
          ${viewer?.signedIn ? html`<span data-testid="viewer">Signed in as <strong>${viewer.username}</strong></span>` : nothing}
          <button @click=${this.openShortcuts} aria-keyshortcuts="?">Keyboard shortcuts</button>
        </div>
      </header>
      <main>
        <section class="card" aria-labelledby="testing-h" aria-busy=${this.writes > 0 ? "true" : "false"} data-testid="testing">
          <h2 id="testing-h">Testing Environment</h2>
          ${this.renderTesting()}
        </section>
        ${maintainer && s
          ? html`<section class="card">
              ${this.secondary
                ? html`<tr-history .version=${s.version} .repo=${s.githubRepo}></tr-history>`
                : html`<p class="muted" data-testid="history-loading">Loading history…</p>`}
            </section>`
          : nothing}
        <section aria-labelledby="build-h" data-testid="build">
          <h2 id="build-h">Last Build Result</h2>
          ${this.secondary ? this.build.render({
            initial: () => html`<p class="muted">Loading…</p>`,
            pending: () => (this.build.value ? html`<tr-build-result .result=${this.build.value}></tr-build-result>` : html`<p class="muted">Loading…</p>`),
            complete: (r) => html`<tr-build-result .result=${r}></tr-build-result>`,
            error: (err) => html`<p role="alert">${describe(err, "build").text}</p>`,
          }) : loading}
        </section>
        <section aria-labelledby="info-h" data-testid="info">
          <h2 id="info-h">System information</h2>
          ${this.secondary ? this.info.render({
            pending: () => html`<p class="muted">Loading…</p>`,
            complete: (i) => html`<tr-system-info .info=${i}></tr-system-info>`,
            error: (err) => html`<p role="alert">${describe(err, "info").text}</p>`,
          }) : loading}
        </section>
        <section aria-labelledby="features-h" data-testid="features-section">
          <h2 id="features-h">Features enabled</h2>
          ${this.secondary ? this.info.render({
            pending: () => html`<p class="muted">Loading…</p>`,
            complete: (i) => html`<tr-feature-flags .features=${i?.features ?? []} .error=${i?.configError ?? ""}></tr-feature-flags>`,
            error: () => html`<p class="muted">Unavailable (see above).</p>`,
          }) : loading}
        </section>
      </main>
      <tr-notices .notices=${this.notices} @tr-dismiss=${(e: { id: number }) => this.dismiss(e.id)}
        @tr-restore=${this.onRestore}></tr-notices>
      ${this.secondary
        ? html`<tr-confirm-deploy .open=${this.confirm !== undefined} .changes=${this.confirm?.changes ?? []}
              .repo=${s?.githubRepo ?? ""} ?jenkinsConfigured=${this.confirm?.jenkins ?? true} .skips=${this.confirm?.skips ?? []}
              @tr-confirm=${this.onConfirm}></tr-confirm-deploy>
            <tr-shortcuts .open=${this.shortcutsOpen} @tr-close=${() => (this.shortcutsOpen = false)}></tr-shortcuts>`
        : nothing}
    </div>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    "tr-app": TrApp;
  }
}
