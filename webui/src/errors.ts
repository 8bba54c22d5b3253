// Every failure of an RPC becomes a specific sentence a person can act on: one
// place decides the wording for each Connect code (and, where it matters, the
// action), so no error is silent and none is a bare "something went wrong".
import { Code, ConnectError } from "@connectrpc/connect";

/** What the user was doing when the error happened; it picks the wording. */
export type Action =
  | "load"
  | "add"
  | "remove"
  | "restore"
  | "stage"
  | "deploy"
  | "refresh"
  | "history"
  | "build"
  | "info"
  | "pairs";

export interface Problem {
  /** The sentence shown to the user. */
  text: string;
  /** The server's own words, when they add something. */
  detail?: string;
  /** The code, for tests and styling. */
  code: Code;
  /** Show a sign-in link with it. */
  signIn?: boolean;
}

export const ABORTED_TEXT =
  "Someone else changed the testing set — the page now shows their change; try again.";

export const JENKINS_TEXT = "Jenkins did not accept the build — nothing was lost. Try again shortly.";

const what: Record<Action, string> = {
  load: "load the testing set",
  add: "add those PRs",
  remove: "remove those PRs",
  restore: "restore those PRs",
  stage: "stage that change",
  deploy: "deploy",
  refresh: "refresh drift from GitHub",
  history: "load the history",
  build: "load the last build result",
  info: "load the system information",
  pairs: "check which PRs conflict",
};

const writes = new Set<Action>(["add", "remove", "restore", "stage", "deploy", "refresh"]);

/** Turns any thrown value of an RPC into a Problem. */
export function describe(err: unknown, action: Action): Problem {
  const e = ConnectError.from(err);
  const raw = e.rawMessage;
  const nothing = writes.has(action) ? " Nothing was changed." : "";
  const p = (text: string, extra: Partial<Problem> = {}): Problem => ({
    text,
    code: e.code,
    ...(raw && raw !== text ? { detail: raw } : {}),
    ...extra,
  });
  switch (e.code) {
    case Code.Aborted:
      return { text: ABORTED_TEXT, code: e.code };
    case Code.Unauthenticated:
      return p("You are not signed in (or your session ended): sign in to Open Library as a maintainer to use the testing panel.", { signIn: true });
    case Code.PermissionDenied:
      return p("Only Open Library maintainers can do that: sign in with a maintainer's account.", { signIn: true });
    case Code.InvalidArgument:
      return { text: raw || `The server refused the request to ${what[action]}.`, code: e.code };
    case Code.FailedPrecondition:
      if (action === "deploy") return { text: `Nothing was deployed: ${raw || "there is nothing to deploy"}`, code: e.code };
      return { text: raw || `Could not ${what[action]}: the server's state does not allow it.`, code: e.code };
    case Code.NotFound:
      return { text: raw || `Could not ${what[action]}: not found.`, code: e.code };
    case Code.Unavailable:
      if (action === "deploy") return p(JENKINS_TEXT);
      if (action === "pairs") return p(`Git could not ${what[action]} yet. Try again shortly.`);
      if (action === "add" || action === "refresh" || action === "stage") {
        return p(`GitHub or the server is unavailable, so could not ${what[action]}.${nothing} Try again shortly.`);
      }
      return p(`The server is unavailable, so could not ${what[action]}.${nothing} Try again shortly.`);
    case Code.DeadlineExceeded:
      // The server goes on computing the matrix: the next ask is likely answered.
      if (action === "pairs") return { text: "Git is still checking which PRs conflict: ask again in a moment.", code: e.code };
      return p(`The server took too long to ${what[action]}; the page shows the current state — check it before trying again.`);
    case Code.ResourceExhausted:
      return p(`Too many requests: wait a moment, then ${what[action]} again.${nothing}`);
    case Code.Canceled:
      return p(`The request to ${what[action]} was canceled.${nothing}`);
    case Code.Unimplemented:
      return p(`This testingd does not know how to ${what[action]} (an older server?).${nothing}`);
    case Code.AlreadyExists:
    case Code.OutOfRange:
      return { text: raw || `Could not ${what[action]}.`, code: e.code };
    case Code.Internal:
    case Code.DataLoss:
      return p(`The server failed to ${what[action]} (an internal error; its log has the details).${nothing}`);
    case Code.Unknown:
    default:
      return p(`Could not reach testingd to ${what[action]} (network error or the server failed).` +
        (writes.has(action) ? " The page will show whether it was applied once it reconnects." : " Check your connection and try again."));
  }
}
