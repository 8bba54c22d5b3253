// Avatars of the PR table: a GitHub user as a 24px image, or a letter tile when
// there is no avatar URL (or it fails to load), or a dash when there is nobody.
// A template, not an element: a table of 50 rows has 100 of them, and 100 custom
// elements with their own shadow roots cost a third of the table's first render.
import { css, html, type TemplateResult } from "lit";

/** URLs that failed to load on this page: shown as letters from then on. */
const failed = new Set<string>();

export const avatarStyles = css`
  .avatar {
    display: inline-flex;
    vertical-align: middle;
  }
  .avatar img,
  .avatar .letter {
    width: 24px;
    height: 24px;
    border-radius: 50%;
  }
  .avatar .letter {
    display: inline-flex;
    align-items: center;
    justify-content: center;
    font-size: 0.75rem;
    font-weight: 600;
    background: var(--tr-surface);
    border: 1px solid var(--tr-border);
  }
`;

/**
 * The avatar of `login` ("" = nobody); `kind` is what the person is to the PR
 * ("author", "assignee"), for the accessible name. `host.requestUpdate()` is called
 * when the image fails to load, to show the letter instead.
 */
export function avatar(login: string, src: string, kind: string, host: { requestUpdate(): void }): TemplateResult {
  const label = kind ? `${kind}: ${login}` : login;
  if (!login) {
    return html`<span class="avatar muted" title=${kind ? `No ${kind}` : "Nobody"}
      ><span aria-hidden="true">—</span><span class="visually-hidden">${kind ? `no ${kind}` : "nobody"}</span></span
    >`;
  }
  if (src && !failed.has(src)) {
    return html`<span class="avatar"
      ><img src=${src} alt=${label} title=${login} width="24" height="24" loading="lazy"
        @error=${() => {
          failed.add(src);
          host.requestUpdate();
        }}
    /></span>`;
  }
  return html`<span class="avatar"
    ><span class="letter" role="img" aria-label=${label} title=${login}>${login[0]!.toUpperCase()}</span></span
  >`;
}
