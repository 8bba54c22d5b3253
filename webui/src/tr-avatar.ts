// <tr-avatar>: a GitHub user as a 24px avatar, or a letter tile when there is no
// avatar URL (or it fails to load), or a dash when there is nobody.
import { LitElement, css, html } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import { base } from "./styles.js";

@customElement("tr-avatar")
export class TrAvatar extends LitElement {
  static override styles = [
    base,
    css`
      :host {
        display: inline-flex;
        vertical-align: middle;
      }
      img,
      .letter {
        width: 24px;
        height: 24px;
        border-radius: 50%;
      }
      .letter {
        display: inline-flex;
        align-items: center;
        justify-content: center;
        font-size: 0.75rem;
        font-weight: 600;
        background: var(--tr-surface);
        border: 1px solid var(--tr-border);
      }
    `,
  ];

  @property() login = "";
  @property() src = "";
  /** What the person is to the PR, for the accessible name ("author", "assignee"). */
  @property() kind = "";
  @state() private failed = false;

  override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has("src")) this.failed = false;
  }

  override render() {
    const label = this.kind ? `${this.kind}: ${this.login}` : this.login;
    if (!this.login) {
      return html`<span class="muted" title=${this.kind ? `No ${this.kind}` : "Nobody"}
        ><span aria-hidden="true">—</span><span class="visually-hidden">${this.kind ? `no ${this.kind}` : "nobody"}</span></span
      >`;
    }
    if (this.src && !this.failed) {
      return html`<img src=${this.src} alt=${label} title=${this.login} width="24" height="24" loading="lazy"
        @error=${() => (this.failed = true)} />`;
    }
    return html`<span class="letter" role="img" aria-label=${label} title=${this.login}
      >${this.login[0]!.toUpperCase()}</span
    >`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    "tr-avatar": TrAvatar;
  }
}
