// <tr-system-info>: the legacy "System information" table, for testingd: its
// version and revision, Go version, host, start time, and Open Library's revision.
import { LitElement, css, html, nothing } from "lit";
import { customElement, property } from "lit/decorators.js";
import { formatTime, tsMs } from "./format.js";
import type { GetServerInfoResponse } from "./gen/openlibrary/testing/v1/testing_pb.js";
import { base } from "./styles.js";
import "./tr-relative-time.js";

@customElement("tr-system-info")
export class TrSystemInfo extends LitElement {
  static override styles = [
    base,
    css`
      :host {
        display: block;
      }
      th {
        width: 12rem;
        font-size: 0.9rem;
        text-transform: none;
        letter-spacing: normal;
      }
    `,
  ];

  @property({ attribute: false }) info: GetServerInfoResponse | undefined;

  override render() {
    const i = this.info;
    if (!i) return nothing;
    const start = tsMs(i.startTime);
    const rows: [string, unknown][] = [
      [
        "Software version",
        html`testingd ${i.serviceVersion}${i.vcsRevision ? html` (<code>${i.vcsRevision.slice(0, 12)}</code>${i.vcsModified ? ", modified" : ""})` : nothing}`,
      ],
      ["Go version", i.goVersion],
      ["Host", i.host],
      ["Start time", start === undefined ? "" : html`${formatTime(start)} (<tr-relative-time .ms=${start}></tr-relative-time>)`],
      ["Open Library revision", i.olRevision ? html`<code>${i.olRevision}</code>` : html`<span class="muted">unknown</span>`],
    ];
    return html`<table data-testid="system-info">
      <tbody>
        ${rows.map(([k, v]) => html`<tr><th scope="row">${k}</th><td>${v}</td></tr>`)}
      </tbody>
    </table>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    "tr-system-info": TrSystemInfo;
  }
}
