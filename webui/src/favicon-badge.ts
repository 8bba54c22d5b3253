// While Jenkins runs a deploy, the tab's icon carries an orange badge (as the
// legacy page did), and the title says so; both are restored when it is done.
import iconSvg from "./favicon.svg";

const badge = '<circle cx="24" cy="8" r="7.5" fill="hsl(24 100% 50%)" stroke="#fff" stroke-width="2"/>';

export const badgedIcon = "data:image/svg+xml," + encodeURIComponent(iconSvg.replace("<!--badge-->", badge));

const prefix = "⏳ Deploying · ";

export class FaviconBadge {
  private original: string | null | undefined;

  /** Shows or hides the badge; idempotent. */
  set(deploying: boolean): void {
    const link = document.querySelector<HTMLLinkElement>('link[rel~="icon"]');
    if (deploying && this.original === undefined) {
      this.original = link?.getAttribute("href") ?? null;
      link?.setAttribute("href", badgedIcon);
      link?.setAttribute("data-badge", "deploying");
      if (!document.title.startsWith(prefix)) document.title = prefix + document.title;
    } else if (!deploying && this.original !== undefined) {
      if (this.original !== null) link?.setAttribute("href", this.original);
      link?.removeAttribute("data-badge");
      this.original = undefined;
      if (document.title.startsWith(prefix)) document.title = document.title.slice(prefix.length);
    }
  }
}
