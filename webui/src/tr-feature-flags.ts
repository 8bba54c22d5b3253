// <tr-feature-flags>: Open Library's feature flags ("Features enabled"), as the
// server reads them from its config; a flag for a usergroup reads "usergroup: NAME".
import { LitElement, html, nothing } from "lit";
import { customElement, property } from "lit/decorators.js";
import type { FeatureFlag } from "./gen/openlibrary/testing/v1/testing_pb.js";
import { base } from "./styles.js";

@customElement("tr-feature-flags")
export class TrFeatureFlags extends LitElement {
  static override styles = [base];

  @property({ attribute: false }) features: readonly FeatureFlag[] = [];
  /** Why the flags could not be read. */
  @property() error = "";

  override render() {
    return html`${this.error ? html`<p class="muted" role="note">${this.error}</p>` : nothing}
    ${this.features.length === 0
      ? html`<p class="muted">No feature flags (no Open Library configuration is set up).</p>`
      : html`<table data-testid="features">
          <thead>
            <tr>
              <th scope="col">Feature</th>
              <th scope="col">Value</th>
            </tr>
          </thead>
          <tbody>
            ${this.features.map((f) => html`<tr><td>${f.name}</td><td>${f.value}</td></tr>`)}
          </tbody>
        </table>`}`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    "tr-feature-flags": TrFeatureFlags;
  }
}
