// <tr-build-result>: the last build's transcript — git status, one row per PR
// (conflicts red, each body expandable), footer, and a link to all those PRs on
// GitHub. Public: everyone sees it.
import { LitElement, css, html, nothing } from "lit";
import { customElement, property } from "lit/decorators.js";
import { tsMs } from "./format.js";
import type { GetBuildResultResponse } from "./gen/openlibrary/testing/v1/testing_pb.js";
import { base } from "./styles.js";
import "./tr-relative-time.js";

@customElement("tr-build-result")
export class TrBuildResult extends LitElement {
  static override styles = [
    base,
    css`
      :host {
        display: block;
      }
      tr.conflict td {
        background: var(--tr-danger-bg);
      }
      tr.conflict .status {
        color: var(--tr-danger);
      }
      details summary {
        cursor: pointer;
        font-size: 0.85rem;
      }
      td {
        overflow-wrap: anywhere;
      }
      .links {
        display: flex;
        gap: 1rem;
        flex-wrap: wrap;
        align-items: baseline;
      }
    `,
  ];

  @property({ attribute: false }) result: GetBuildResultResponse | undefined;

  override render() {
    const r = this.result;
    if (!r) return nothing;
    if (!r.exists) return html`<p class="muted" data-testid="no-build">No build has run yet.</p>`;
    return html`<p class="links">
        ${r.modifiedAt ? html`<span>Built <tr-relative-time .ms=${tsMs(r.modifiedAt)}></tr-relative-time></span>` : nothing}
        ${r.githubUrl ? html`<a href=${r.githubUrl}>View PRs on GitHub</a>` : nothing}
      </p>
      ${r.truncated ? html`<p class="muted">The transcript is too long: only its start is shown.</p>` : nothing}
      ${r.gitStatus ? html`<pre data-testid="git-status">${r.gitStatus}</pre>` : nothing}
      ${r.prs.length
        ? html`<table data-testid="build-prs">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              ${r.prs.map(
                (p) => html`<tr class=${p.mergeConflict ? "conflict" : ""} data-number=${p.number}>
                  <td>
                    ${p.link
                      ? html`<a href=${p.link}>#${p.number}${p.name ? `: ${p.name}` : ""}</a>`
                      : html`<code>${p.pullLine}</code>`}
                    ${p.mergeConflict ? html` <span class="badge danger">merge conflict</span>` : nothing}
                    ${p.skipped ? html` <span class="badge neutral">skipped</span>` : nothing}
                  </td>
                  <td>
                    <code class="status">${p.status}</code>
                    ${p.body
                      ? html`<details>
                          <summary>Show output<span class="visually-hidden"> of ${p.number ? `#${p.number}` : p.pullLine}</span></summary>
                          <pre>${p.body}</pre>
                        </details>`
                      : nothing}
                  </td>
                </tr>`,
              )}
            </tbody>
          </table>`
        : nothing}
      ${r.footer ? html`<pre data-testid="build-footer">${r.footer}</pre>` : nothing}`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    "tr-build-result": TrBuildResult;
  }
}
