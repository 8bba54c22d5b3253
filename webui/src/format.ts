// Pure helpers shared by the components: times, SHAs, GitHub links, ref splitting,
// plan wording. No DOM, no RPC: unit-testable in any JS runtime.
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import {
  ChangeKind,
  Mergeable,
  MergePredictionState,
  PredictedMerge,
  type MergePrediction,
  type PullRequest,
} from "./gen/openlibrary/testing/v1/testing_pb.js";

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

/** "17:03 UTC" for a time on the same UTC day as now, else the full formatTime. */
export function formatClock(ms: number | undefined, now: number): string {
  if (ms === undefined) return "";
  const iso = new Date(ms).toISOString();
  return iso.slice(0, 10) === new Date(now).toISOString().slice(0, 10) ? `${iso.slice(11, 16)} UTC` : formatTime(ms);
}

/** "45 s", "90 s", "5 min", "1 h", "1 h 30 min": a setting's length, compactly. */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 120 || (s < 3600 && s % 60 !== 0)) return `${s} s`;
  if (s < 3600) return `${s / 60} min`;
  const h = Math.floor(s / 3600);
  const m = Math.round((s % 3600) / 60);
  return m ? `${h} h ${m} min` : `${h} h`;
}

/** 4812 → "4,812" (the page's words are English, so are its digits). */
export function formatCount(n: number): string {
  return n.toLocaleString("en-US");
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

export interface MergePill {
  /** The visible words. */
  label: string;
  /** The tooltip: what it means, with GitHub's own word. */
  title: string;
  kind: "conflicts" | "checking" | "other";
}

// GitHub's words for a PR that merges but not (yet) at once, in the row's words.
const mergeWords: Record<string, [label: string, why: string]> = {
  blocked: ["blocked", "merging is blocked until a required review or check passes"],
  behind: ["behind master", "the base branch has moved on and a branch rule wants the PR brought up to date"],
  unstable: ["unstable", "some checks that are not required fail or are still running"],
  draft: ["draft", "a draft: not ready for review"],
};

/**
 * The mergeability pill of a row, from Mergeable and GitHub's own word
 * (mergeable_state); undefined when there is nothing to say: clean, not asked, or
 * a row that no longer merges anywhere (merged, closed, removed).
 */
export function mergePill(pr: PullRequest): MergePill | undefined {
  if (!pr.inSet || pr.merged || pr.closed) return undefined;
  const word = pr.mergeableState;
  const said = word ? ` (GitHub: "${word}")` : "";
  if (pr.mergeable === Mergeable.CONFLICTING || word === "dirty") {
    return {
      label: "conflicts with master",
      kind: "conflicts",
      title: `GitHub says this PR conflicts with its base branch; the next build may fail to merge it${said}`,
    };
  }
  // GitHub's word first: a draft is a draft whether or not the merge is computed yet.
  const other = mergeWords[word];
  if (other) {
    const clean = pr.mergeable === Mergeable.CLEAN ? "; it merges without conflicts" : "";
    return { label: other[0], kind: "other", title: `GitHub: "${word}": ${other[1]}${clean}` };
  }
  if (pr.mergeable === Mergeable.UNKNOWN || word === "unknown") {
    return { label: "checking…", kind: "checking", title: `GitHub is still working out whether this PR merges cleanly${said}` };
  }
  return undefined;
}

/**
 * Why the next deploy is predicted to skip the PR, in the words of the row and the
 * deploy confirmation ("conflicts with #13208 in a.py, b.py"; without the paths when
 * `paths` is false); "" when it merges (clean, empty) or nothing is predicted.
 */
export function skipReason(pr: PullRequest, base: string, paths = true): string {
  const k = pr.predictedMerge;
  const why =
    k === PredictedMerge.CONFLICTS_BASE
      ? `conflicts with ${base || "the base branch"}`
      : k === PredictedMerge.CONFLICTS_PR
        ? `conflicts with #${pr.conflictsWith}`
        : k === PredictedMerge.MISSING
          ? "its pinned commit is not fetched yet"
          : k === PredictedMerge.REFUSED
            ? "git refuses to merge it"
            : "";
  return why && paths && pr.conflictPaths.length ? `${why} in ${pr.conflictPaths.join(", ")}` : why;
}

/** "#13370, #13371". */
export function prList(numbers: readonly number[]): string {
  return numbers.map((n) => `#${n}`).join(", ");
}

/**
 * The merge prediction in one line: what will not land, or that it is being
 * computed, off or failed (with the server's reason); `warn` when it says something
 * is wrong. Undefined from a server that does not predict (no merge_prediction).
 */
export function predictionLine(p: MergePrediction | undefined): { text: string; warn: boolean } | undefined {
  if (!p?.state) return undefined;
  const n = p.willNotLand.length;
  const reason = p.reason ? ` (${p.reason})` : "";
  switch (p.state) {
    case MergePredictionState.OFF:
      return { text: `Prediction off: ${p.reason}`, warn: false };
    case MergePredictionState.FAILED:
      return { text: `Prediction failed: ${p.reason}`, warn: true };
  }
  if (p.state === MergePredictionState.PENDING && !p.stale) {
    return { text: `Predicting the deploy's merges…${reason}`, warn: false };
  }
  return {
    text: `Prediction${p.stale ? " (updating…)" : ""}: ${n ? `${plural(n, "PR")} will not land: ${prList(p.willNotLand)}` : "every PR merges cleanly"}.${reason}`,
    warn: n > 0,
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
