// Pure helpers shared by the components: times, SHAs, GitHub links, ref splitting,
// plan wording. No DOM, no RPC: unit-testable in any JS runtime.
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { ChangeKind, type PullRequest } from "./gen/openlibrary/testing/v1/testing_pb.js";

export const DEFAULT_REPO = "internetarchive/openlibrary";

/** ms since the epoch of a Timestamp; undefined when unset. */
export function tsMs(ts: Timestamp | undefined): number | undefined {
  return ts ? timestampMs(ts) : undefined;
}

const units: [Intl.RelativeTimeFormatUnit, number][] = [
  ["day", 86_400],
  ["hour", 3_600],
  ["minute", 60],
];

// Making an Intl.RelativeTimeFormat costs milliseconds (it loads locale data) and
// every relative time on the page is formatted again each second: one per locale.
const relativeFormats = new Map<string | undefined, Intl.RelativeTimeFormat>();

/** "3 minutes ago", "now", "in 2 hours"; "" for undefined. Legacy timeAgo rounding. */
export function timeAgo(ms: number | undefined, now: number, locale?: string): string {
  if (ms === undefined || Number.isNaN(ms)) return "";
  let fmt = relativeFormats.get(locale);
  if (!fmt) {
    fmt = new Intl.RelativeTimeFormat(locale, { numeric: "auto" });
    relativeFormats.set(locale, fmt);
  }
  const seconds = Math.round((ms - now) / 1000);
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size) return fmt.format(Math.round(seconds / size), unit);
  }
  return fmt.format(seconds, "second");
}

/** "2026-08-05 18:00 UTC": the absolute time behind a relative one (tooltips). */
export function formatTime(ms: number | undefined): string {
  if (ms === undefined) return "";
  return new Date(ms).toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

export function shortSha(sha: string): string {
  return sha.slice(0, 7);
}

export function repoUrl(repo: string): string {
  return `https://github.com/${repo || DEFAULT_REPO}`;
}

export function prUrl(repo: string, n: number): string {
  return `${repoUrl(repo)}/pull/${n}`;
}

export function commitUrl(repo: string, sha: string): string {
  return `${repoUrl(repo)}/commit/${encodeURIComponent(sha)}`;
}

export function compareUrl(repo: string, base: string, head: string): string {
  return `${repoUrl(repo)}/compare/${encodeURIComponent(base)}...${encodeURIComponent(head)}`;
}

/** The state of a row after the next deploy: the staged toggle if any, else active. */
export function effectiveActive(pr: PullRequest): boolean {
  return pr.pendingActive ?? pr.active;
}

export interface DriftPill {
  label: string;
  title: string;
  href?: string;
  kind: "ok" | "behind" | "unknown" | "diverged" | "done";
}

/** The drift pill of a row (legacy driftPill, plus diverged). */
export function driftPill(pr: PullRequest, repo: string): DriftPill {
  const pin = shortSha(pr.commit);
  if ((pr.merged || pr.closed) && (pr.drift < 0 || Number.isNaN(pr.drift))) {
    // GitHub is not asked about the drift of a finished PR: the next deploy drops it.
    const what = pr.merged ? "Merged" : "Closed";
    return { label: "—", kind: "done", title: `${what}: its drift no longer matters; pinned at ${pin}` };
  }
  if (pr.diverged) {
    return {
      label: "diverged",
      kind: "diverged",
      title: `Force-pushed: the pinned commit ${pin} is no longer part of the PR` +
        (pr.drift > 0 ? `; the head has ${pr.drift} commit${pr.drift === 1 ? "" : "s"} the pin lacks` : ""),
      href: pr.headSha ? compareUrl(repo, pr.commit, pr.headSha) : commitUrl(repo, pr.commit),
    };
  }
  if (pr.drift === 0) {
    return { label: "OK", kind: "ok", title: `Up-to-date, pinned at ${pin}` };
  }
  if (pr.drift < 0 || Number.isNaN(pr.drift)) {
    return { label: "?", kind: "unknown", title: `Drift unknown, pinned at ${pin}`, href: commitUrl(repo, pr.commit) };
  }
  return {
    label: `-${pr.drift}`,
    kind: "behind",
    title: `${pr.drift} commit${pr.drift === 1 ? "" : "s"} behind ${pin}`,
    href: pr.headSha ? compareUrl(repo, pr.commit, pr.headSha) : undefined,
  };
}

/** Update (stage a pin to the head) makes sense when the head moved and nothing is staged. */
export function canUpdate(pr: PullRequest): boolean {
  return pr.inSet && !pr.pullLatestSha && (pr.drift > 0 || pr.diverged);
}

/** Whether anything is staged on the row (what Unstage would drop). */
export function hasStaged(pr: PullRequest): boolean {
  return pr.pullLatestSha !== "" || pr.pendingActive !== undefined;
}

export const changeLabels: Record<ChangeKind, string> = {
  [ChangeKind.UNSPECIFIED]: "",
  [ChangeKind.ADD]: "Add",
  [ChangeKind.PIN]: "Update pin",
  [ChangeKind.ENABLE]: "Enable",
  [ChangeKind.DISABLE]: "Disable",
  [ChangeKind.REMOVE]: "Remove",
};

export const removeReasons: Record<string, string> = {
  merged: "merged to master",
  closed: "closed without merging",
  dropped: "dropped from the set",
};

/** "1 change" / "3 changes". */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

const deployLine = /^origin\s+pull\/\d+\/head\b/;

/**
 * Splits the add box's text into refs: numbers, #N, URLs separated by spaces or
 * commas, and deploy lines ("origin pull/N/head  # title", whose title may hold
 * spaces and commas) which run up to the next line break or the next deploy line.
 */
export function splitRefs(text: string): string[] {
  const refs: string[] = [];
  for (const chunk of text.split(/\n|(?=origin\s+pull\/\d+\/head)/)) {
    let rest = chunk.trim();
    if (deployLine.test(rest)) {
      const m = /^(origin\s+pull\/\d+\/head)\s*(.*)$/.exec(rest)!;
      if (m[2].startsWith("#") || m[2] === "") {
        refs.push(rest.replace(/[\s,]+$/, ""));
        continue;
      }
      refs.push(m[1]);
      rest = m[2];
    }
    refs.push(...rest.split(/[\s,]+/).filter(Boolean));
  }
  return refs;
}

/** The sign-in page of Open Library, relative to the site root, coming back here. */
export function signInUrl(): string {
  return `/account/login?redirect=${encodeURIComponent(location.pathname + location.search)}`;
}
