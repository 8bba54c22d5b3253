// <tr-shortcuts>: the keyboard shortcuts, listed in a modal dialog ("?").
import { LitElement, css, html } from "lit";
import { customElement, property, query } from "lit/decorators.js";
import { base } from "./styles.js";

export const shortcuts: [string, string][] = [
  ["/", "Focus the add box"],
  ["?", "Show these shortcuts"],
  ["h", "Open the history"],
  ["Esc", "Clear the selection, close a dialog"],
  ["Shift + click", "Select a range of rows"],
];

export class CloseEvent extends Event {
  static readonly type = "tr-close";
  constructor() {
    super(CloseEvent.type, { bubbles: true, composed: true });
  }
}

@customElement("tr-shortcuts")
export class TrShortcuts extends LitElement {
  static override styles = [
    base,
    css`
      dialog {
        color: var(--tr-fg);
        background: var(--tr-bg);
        border: 1px solid var(--tr-border);
        border-radius: var(--tr-radius);
        padding: 1.25rem;
        min-width: min(22rem, calc(100vw - 2rem));
      }
      dialog::backdrop {
        background: rgb(0 0 0 / 0.4);
      }
      dl {
        display: grid;
        grid-template-columns: auto 1fr;
        gap: 0.4rem 1rem;
        margin: 0 0 1rem;
      }
      dt {
        text-align: right;
      }
      dd {
        margin: 0;
      }
      kbd {
        font-family: var(--tr-mono);
        font-size: 0.85rem;
        border: 1px solid var(--tr-border);
        border-bottom-width: 2px;
        border-radius: 4px;
        padding: 0 0.35rem;
        background: var(--tr-surface);
      }
    `,
  ];

  @property({ type: Boolean }) open = false;
  @query("dialog") private dialog!: HTMLDialogElement;

  /**
   * Whether the dialog is on screen now. `open` can lag behind it: the dialog's
   * close event (which resets it) is queued as a task after Escape closes it.
   */
  get showing(): boolean {
    return this.dialog?.open ?? false;
  }

  override updated(changed: Map<string, unknown>): void {
    if (!changed.has("open")) return;
    if (this.open && !this.dialog.open) this.dialog.showModal();
    if (!this.open && this.dialog.open) this.dialog.close();
  }

  override render() {
    return html`<dialog aria-labelledby="shortcuts-h" data-testid="shortcuts" @close=${() => this.dispatchEvent(new CloseEvent())}>
      <h2 id="shortcuts-h">Keyboard shortcuts</h2>
      <dl>${shortcuts.map(([k, v]) => html`<dt><kbd>${k}</kbd></dt><dd>${v}</dd>`)}</dl>
      <form method="dialog"><button autofocus>Close</button></form>
    </dialog>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    "tr-shortcuts": TrShortcuts;
  }
  interface HTMLElementEventMap {
    "tr-close": CloseEvent;
  }
}
