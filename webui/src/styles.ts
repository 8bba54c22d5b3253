// The shared look: design tokens as CSS custom properties (light, and dark when
// the system prefers it) set once on the app's host and inherited through every
// shadow root, plus a base sheet every component adopts.
import { css } from "lit";

/** Tokens, adopted by tr-app only: custom properties inherit into child shadow roots. */
export const tokens = css`
  :host {
    color-scheme: light;
    --tr-bg: #ffffff;
    --tr-fg: #1f2328;
    --tr-muted: #59636e;
    --tr-surface: #f6f8fa;
    --tr-border: #d1d9e0;
    --tr-hover: rgb(0 0 0 / 0.04);
    --tr-accent: #0a58ca;
    --tr-accent-fg: #ffffff;
    --tr-success: #1a7f37;
    --tr-success-bg: #dafbe1;
    --tr-warning: #8a5a00;
    --tr-warning-bg: #fff8c5;
    --tr-danger: #c21f2b;
    --tr-danger-bg: #ffebe9;
    --tr-focus: #0969da;
    --tr-radius: 6px;
    --tr-font: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
    --tr-mono: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  }
  @media (prefers-color-scheme: dark) {
    :host {
      color-scheme: dark;
      --tr-bg: #0d1117;
      --tr-fg: #e6edf3;
      --tr-muted: #9198a1;
      --tr-surface: #151b23;
      --tr-border: #3d444d;
      --tr-hover: rgb(255 255 255 / 0.05);
      --tr-accent: #4493f8;
      --tr-accent-fg: #0d1117;
      --tr-success: #3fb950;
      --tr-success-bg: #12261e;
      --tr-warning: #d29922;
      --tr-warning-bg: #272115;
      --tr-danger: #ff7b72;
      --tr-danger-bg: #2d1517;
      --tr-focus: #4493f8;
    }
  }
`;

/** The base sheet: every component adopts it. */
export const base = css`
  :host {
    font-family: var(--tr-font);
    color: var(--tr-fg);
  }
  *,
  *::before,
  *::after {
    box-sizing: border-box;
  }
  a {
    color: var(--tr-accent);
  }
  a:hover {
    text-decoration-thickness: 2px;
  }
  code,
  pre {
    font-family: var(--tr-mono);
    font-size: 0.85em;
  }
  pre {
    white-space: pre-wrap;
    overflow-wrap: anywhere;
    background: var(--tr-surface);
    border: 1px solid var(--tr-border);
    border-radius: var(--tr-radius);
    padding: 0.5rem 0.75rem;
    margin: 0.5rem 0;
  }
  h2 {
    font-size: 1.15rem;
    margin: 0 0 0.75rem;
  }
  button {
    font: inherit;
    font-size: 0.9rem;
    color: var(--tr-fg);
    background: var(--tr-surface);
    border: 1px solid var(--tr-border);
    border-radius: var(--tr-radius);
    padding: 0.35rem 0.75rem;
    cursor: pointer;
    display: inline-flex;
    align-items: center;
    gap: 0.35rem;
    min-height: 2rem;
  }
  button:hover:not(:disabled) {
    border-color: var(--tr-muted);
  }
  button:disabled {
    cursor: not-allowed;
    opacity: 0.55;
  }
  button.primary {
    background: var(--tr-accent);
    color: var(--tr-accent-fg);
    border-color: var(--tr-accent);
  }
  button.danger:hover:not(:disabled) {
    color: var(--tr-danger);
    border-color: var(--tr-danger);
  }
  button.icon {
    padding: 0;
    width: 2rem;
    justify-content: center;
  }
  button.link {
    background: none;
    border: none;
    padding: 0;
    min-height: 0;
    color: var(--tr-accent);
    text-decoration: underline;
  }
  input[type="text"],
  input[type="search"],
  input[type="number"] {
    font: inherit;
    color: var(--tr-fg);
    background: var(--tr-bg);
    border: 1px solid var(--tr-border);
    border-radius: var(--tr-radius);
    padding: 0.35rem 0.5rem;
    min-height: 2rem;
  }
  input[type="checkbox"] {
    width: 1rem;
    height: 1rem;
    accent-color: var(--tr-accent);
  }
  :focus-visible {
    outline: 2px solid var(--tr-focus);
    outline-offset: 2px;
  }
  svg {
    width: 1em;
    height: 1em;
    fill: none;
    stroke: currentColor;
    stroke-width: 2;
    stroke-linecap: round;
    stroke-linejoin: round;
    flex: none;
  }
  .muted {
    color: var(--tr-muted);
  }
  .visually-hidden {
    position: absolute;
    width: 1px;
    height: 1px;
    margin: -1px;
    padding: 0;
    overflow: hidden;
    clip: rect(0 0 0 0);
    white-space: nowrap;
    border: 0;
  }
  .spinner {
    width: 14px;
    height: 14px;
    border: 2px solid currentColor;
    border-right-color: transparent;
    border-radius: 50%;
    animation: spin 0.8s linear infinite;
  }
  @keyframes spin {
    to {
      transform: rotate(360deg);
    }
  }
  table {
    border-collapse: collapse;
    width: 100%;
  }
  th,
  td {
    text-align: left;
    padding: 0.35rem 0.5rem;
    border-bottom: 1px solid var(--tr-border);
    vertical-align: top;
  }
  th {
    font-size: 0.75rem;
    text-transform: uppercase;
    letter-spacing: 0.06em;
    color: var(--tr-muted);
  }
  .badge {
    display: inline-block;
    font-size: 0.72rem;
    font-weight: 600;
    line-height: 1.4;
    padding: 0 0.4rem;
    border-radius: 999px;
    border: 1px solid currentColor;
    white-space: nowrap;
  }
  .badge.danger {
    color: var(--tr-danger);
  }
  .badge.warning {
    color: var(--tr-warning);
  }
  .badge.success {
    color: var(--tr-success);
  }
  .badge.info {
    color: var(--tr-accent);
  }
  .badge.neutral {
    color: var(--tr-muted);
  }
  @media (prefers-reduced-motion: reduce) {
    *,
    *::before,
    *::after {
      animation: none !important;
      transition: none !important;
    }
  }
`;
