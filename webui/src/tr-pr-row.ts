// <tr-pr-row>: one PR of the testing set, as a row of tr-pr-table's grid (the
// host is the ARIA row; its cells sit on the table's columns through subgrid).
// It shows everything the legacy row did — live dot, links, avatars, drift pill,
// Update, hourglass, the next-deploy switch, Remove — plus what legacy hid:
// merged, closed, diverged, mergeability, new rows, removed rows with Undo, and the
// merge prediction's warning on a PR the next deploy is predicted to skip.
import { LitElement, css, html, nothing } from "lit";
import { customElement, property } from "lit/decorators.js";
import { RemoveEvent, RestoreEvent, SelectEvent, StageEvent } from "./events.js";
import { canUpdate, changeLabels, driftPill, effectiveActive, hasStaged, mergePill, prUrl, shortSha, skipReason } from "./format.js";
import { ChangeKind, PredictedMerge, Stage, type MergePrediction, type PullRequest } from "./gen/openlibrary/testing/v1/testing_pb.js";
import { arrowUp, hourglass, trash, undo } from "./icons.js";
import { base } from "./styles.js";
import { avatar, avatarStyles } from "./avatar.js";

/** The live dot: merge conflict beats live now beats not yet deployed (legacy). */
function liveDot(pr: PullRequest): { kind: string; label: string } {
  if (pr.mergeConflict) return { kind: "conflict", label: "Deploy failed (merge conflict)" };
  if (pr.liveNow) return { kind: "live", label: "Live now" };
  return { kind: "idle", label: "Not yet deployed" };
}

/** A word for tests and styles: what kind of row this is. */
export function rowState(pr: PullRequest): string {
  if (!pr.inSet) return "removed";
  if (pr.merged) return "merged";
  if (pr.closed) return "closed";
  return "in-set";
}

@customElement("tr-pr-row")
export class TrPrRow extends LitElement {
  static override styles = [
    base,
    avatarStyles,
    css`
      :host {
        display: grid;
        grid-column: 1 / -1;
        grid-template-columns: subgrid;
        align-items: center;
        border-top: 1px solid var(--tr-border);
      }
      :host(:hover) {
        background: var(--tr-hover);
      }
      :host([data-state="removed"]) .pr,
      :host([data-state="merged"]) .title,
      :host([data-state="closed"]) .title {
        color: var(--tr-muted);
      }
      :host([data-state="merged"]) .title,
      :host([data-state="removed"]) .title {
        text-decoration: line-through;
      }
      [role="cell"] {
        padding: 0.4rem 0.5rem;
        min-width: 0;
      }
      .center {
        text-align: center;
      }
      .pr {
        display: grid;
        grid-template-columns: 10px auto 1fr;
        column-gap: 0.5rem;
        align-items: baseline;
      }
      .dot {
        width: 8px;
        height: 8px;
        border-radius: 50%;
        background: var(--tr-muted);
        align-self: center;
      }
      .dot[data-kind="live"] {
        background: var(--tr-success);
      }
      .dot[data-kind="conflict"] {
        background: hsl(0 100% 50%);
      }
      .num {
        font-family: var(--tr-mono);
        font-size: 0.8rem;
        color: var(--tr-muted);
      }
      .title {
        font-weight: 500;
        display: -webkit-box;
        -webkit-line-clamp: 3;
        -webkit-box-orient: vertical;
        overflow: hidden;
        color: var(--tr-fg);
      }
      .badges {
        grid-column: 3;
        display: flex;
        flex-wrap: wrap;
        gap: 0.25rem;
        margin-top: 0.2rem;
      }
      .badges:empty {
        display: none;
      }
      .badge.checking,
      .badge.stale {
        font-weight: 400;
        border-style: dashed;
      }
      details[open] {
        flex-basis: 100%;
        font-size: 0.8rem;
      }
      summary {
        cursor: pointer;
      }
      .drift {
        display: flex;
        align-items: center;
        gap: 0.35rem;
        white-space: nowrap;
      }
      .pill {
        font-size: 0.8rem;
        min-width: 3.25em;
        text-align: center;
        font-family: var(--tr-mono);
      }
      .pill[data-kind="diverged"] {
        color: var(--tr-danger);
        font-weight: 600;
      }
      .staged-pin {
        font-size: 0.75rem;
      }
      .hourglass {
        color: var(--tr-warning);
        cursor: help;
        display: inline-flex;
      }
      .actions {
        display: flex;
        gap: 0.35rem;
        justify-content: flex-end;
      }
      .switch {
        position: relative;
        width: 34px;
        height: 20px;
        min-height: 0;
        padding: 0;
        border-radius: 999px;
        border: none;
        background: var(--tr-muted);
      }
      .switch::after {
        content: "";
        position: absolute;
        top: 2px;
        left: 2px;
        width: 16px;
        height: 16px;
        border-radius: 50%;
        background: var(--tr-bg);
        transition: left 0.12s;
      }
      .switch[aria-checked="true"] {
        background: var(--tr-success);
      }
      .switch[aria-checked="true"]::after {
        left: 16px;
      }
      .switch:hover:not(:disabled) {
        border: none;
      }
      @media (max-width: 720px) {
        :host {
          display: flex;
          flex-wrap: wrap;
          align-items: center;
          padding: 0.35rem 0;
        }
        .pr {
          order: -1;
          flex: 1 1 100%;
        }
        [role="cell"]:empty,
        .nobody {
          /* A dash for nobody (no assignee, no drift) says nothing without its column's header. */
          display: none;
        }
        .actions {
          margin-left: auto;
        }
      }
    `,
  ];

  @property({ attribute: false }) pr!: PullRequest;
  @property() repo = "";
  @property({ type: Boolean }) selected = false;
  /** The status's merge prediction: the base branch's name, and whether the rows' predictions are stale. */
  @property({ attribute: false }) prediction: MergePrediction | undefined;

  override connectedCallback(): void {
    super.connectedCallback();
    this.setAttribute("role", "row");
  }

  override willUpdate(): void {
    const pr = this.pr;
    this.dataset.testid = `pr-row-${pr.number}`;
    this.dataset.state = rowState(pr);
    this.dataset.drift = pr.diverged ? "diverged" : pr.drift < 0 ? "unknown" : String(pr.drift);
    this.toggleAttribute("data-staged", hasStaged(pr));
    this.toggleAttribute("data-new", pr.isNew);
    this.toggleAttribute("data-live", pr.liveNow);
  }

  private stage(stage: Stage) {
    this.dispatchEvent(new StageEvent([this.pr.number], stage));
  }

  private renderSwitch(pr: PullRequest) {
    const on = effectiveActive(pr);
    const staged = pr.pendingActive !== undefined;
    return html`<button
      class="switch"
      role="switch"
      aria-checked=${on ? "true" : "false"}
      aria-label=${`PR #${pr.number} on testing after the next deploy`}
      title=${`${on ? "On" : "Off"} after the next deploy${staged ? ` (now ${pr.active ? "on" : "off"})` : ""}`}
      data-testid="switch"
      @click=${() => this.stage(on ? Stage.DISABLE : Stage.ENABLE)}
    ></button>`;
  }

  private renderBadges(pr: PullRequest) {
    const b = (cls: string, text: string, title: string) => html`<span class="badge ${cls}" title=${title}>${text}</span>`;
    return [
      pr.removed || !pr.inSet
        ? b("neutral", "removed", "Removed from the set; still running on the box until the next deploy")
        : nothing,
      pr.merged ? b("success", "merged", "Merged to master: the next deploy removes it") : nothing,
      pr.closed ? b("neutral", "closed", "Closed without merging: the next deploy removes it") : nothing,
      pr.isNew ? b("info", "new", "Added since the last deploy: joins the box on the next deploy") : nothing,
      pr.inSet && !pr.active && pr.pendingActive === undefined ? b("neutral", "off", "Switched off: not on the box") : nothing,
      this.renderMergeability(pr),
      this.renderSkip(pr),
      pr.mergeConflict ? b("danger", "merge failed", "The last build failed to merge this PR: it is not on the box") : nothing,
    ];
  }

  /** Conflicts (a warning), GitHub still computing (subtle), or GitHub's word for a PR that is not clean. */
  private renderMergeability(pr: PullRequest) {
    const m = mergePill(pr);
    if (!m) return nothing;
    const cls = m.kind === "conflicts" ? "warning" : m.kind === "checking" ? "neutral checking" : "neutral";
    const prefix = m.kind === "checking" ? "mergeability: " : m.kind === "other" ? "GitHub: " : "";
    return html`<span class="badge ${cls}" title=${m.title} data-testid="mergeability" data-kind=${m.kind}
      >${prefix ? html`<span class="visually-hidden">${prefix}</span>` : nothing}${m.label}</span
    >`;
  }

  /**
   * The merge prediction's warning on a PR the next deploy is predicted to skip, its
   * conflicting paths one click away; nothing for one that merges or is not predicted.
   */
  private renderSkip(pr: PullRequest) {
    const why = skipReason(pr, this.prediction?.baseBranch ?? "", false);
    if (!why) return nothing;
    const stale = this.prediction?.stale;
    const label = html`will not land: ${why}${stale ? " (updating)" : ""}`;
    const attrs = `badge warning${stale ? " stale" : ""}`;
    const title = "Predicted with git: the next deploy skips this PR";
    const kind = PredictedMerge[pr.predictedMerge];
    return pr.conflictPaths.length
      ? html`<details data-testid="prediction" data-kind=${kind}>
          <summary class=${attrs} title=${title}>${label}</summary>
          <div>in ${pr.conflictPaths.join(", ")}</div>
        </details>`
      : html`<span class=${attrs} title=${title} data-testid="prediction" data-kind=${kind}>${label}</span>`;
  }

  private renderDrift(pr: PullRequest) {
    if (!pr.inSet) return html`<span class="muted" aria-hidden="true">—</span>`;
    const pill = driftPill(pr, this.repo);
    const label = html`<span class="pill" data-kind=${pill.kind} data-testid="drift">${pill.label}</span><span
        class="visually-hidden"
        >: ${pill.title}</span
      >`;
    return html`${pill.href ? html`<a href=${pill.href} title=${pill.title}>${label}</a>` : html`<span title=${pill.title}>${label}</span>`}
      ${pr.pullLatestSha
        ? html`<code class="staged-pin" title=${`Moves to ${shortSha(pr.pullLatestSha)} on the next deploy`}>→${shortSha(pr.pullLatestSha)}</code>`
        : nothing}
      ${canUpdate(pr)
        ? html`<button class="icon" aria-label=${`Update #${pr.number} to its latest commit`} title="Update" data-testid="update"
            @click=${() => this.stage(Stage.PULL_LATEST)}>${arrowUp}</button>`
        : nothing}
      ${pr.action !== ChangeKind.UNSPECIFIED
        ? html`<span class="hourglass" role="img" data-testid="hourglass"
            aria-label=${`Changes on the next deploy: ${changeLabels[pr.action]}`}
            title=${`Changes on the next deploy: ${changeLabels[pr.action]}`}>${hourglass}</span>`
        : nothing}`;
  }

  override render() {
    const pr = this.pr;
    const dot = liveDot(pr);
    const url = prUrl(this.repo, pr.number);
    return html`<div role="cell" class="center ${pr.inSet ? "" : "nobody"}">
        ${pr.inSet
          ? html`<input type="checkbox" aria-label=${`Select #${pr.number}`} .checked=${this.selected} data-testid="select"
              @click=${(e: MouseEvent) =>
                this.dispatchEvent(new SelectEvent(pr.number, (e.target as HTMLInputElement).checked, e.shiftKey))} />`
          : nothing}
      </div>
      <div role="cell" class="center ${pr.inSet ? "" : "nobody"}">${pr.inSet ? this.renderSwitch(pr) : nothing}</div>
      <div role="cell" class="pr">
        <span class="dot" data-kind=${dot.kind} role="img" aria-label=${dot.label} title=${dot.label} data-testid="live-dot"></span>
        <a class="num" href=${url}>#${pr.number}</a>
        <a class="title" href=${url} title=${pr.title}>${pr.title || `PR #${pr.number}`}</a>
        <span class="badges">${this.renderBadges(pr)}</span>
      </div>
      <div role="cell" class="center ${pr.author ? "" : "nobody"}">${avatar(pr.author, pr.authorAvatar, "author", this)}</div>
      <div role="cell" class="center ${pr.assignee ? "" : "nobody"}">${avatar(pr.assignee, pr.assigneeAvatar, "assignee", this)}</div>
      <div role="cell" class="drift ${pr.inSet ? "" : "nobody"}">${this.renderDrift(pr)}</div>
      <div role="cell" class="actions ${pr.inSet || pr.removed ? "" : "nobody"}">
        ${pr.inSet && hasStaged(pr)
          ? html`<button class="icon" aria-label=${`Unstage the changes to #${pr.number}`} title="Unstage" data-testid="unstage"
              @click=${() => this.stage(Stage.UNSTAGE)}>${undo}</button>`
          : nothing}
        ${pr.inSet
          ? html`<button class="icon danger" aria-label=${`Remove #${pr.number}`} title="Remove" data-testid="remove"
              @click=${() => this.dispatchEvent(new RemoveEvent([pr.number]))}>${trash}</button>`
          : pr.removed
            ? html`<button aria-label=${`Undo the removal of #${pr.number}`} data-testid="restore"
                @click=${() => this.dispatchEvent(new RestoreEvent([pr.number]))}>${undo} Undo</button>`
            : nothing}
      </div>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    "tr-pr-row": TrPrRow;
  }
}
