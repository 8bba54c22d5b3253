// A fake testingd for the component tests: TestingService implemented in memory
// behind createRouterTransport, so the app runs its real client code against it.
// Tests drive it from Playwright through window.fake: load a scenario (protobuf
// JSON), make the next call of a method fail with a Connect code, hold a call,
// change the set behind the page's back, push statuses, drop or refuse the stream.
// Writes follow the service's rules closely enough for the UI (API.md).
import { clone, create, fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createRouterTransport, type HandlerContext } from "@connectrpc/connect";
import {
  AddOutcome,
  ChangeKind,
  DeployOutcome,
  EventSchema,
  GetBuildResultResponseSchema,
  GetConflictMatrixResponseSchema,
  GetServerInfoResponseSchema,
  GetStatusResponseSchema,
  ItemOutcome,
  ItemResultSchema,
  MergePredictionState,
  PendingChangeSchema,
  PullRequestSchema,
  Stage,
  TestingService,
  type GetStatusResponse,
  type ItemResult,
  type PullRequest,
  type WatchStatusResponse,
} from "../src/gen/openlibrary/testing/v1/testing_pb.js";

export interface Scenario {
  status?: JsonValue;
  info?: JsonValue;
  build?: JsonValue;
  events?: JsonValue[];
  /** GetConflictMatrix's answer while the status's merge prediction is on (FAILED_PRECONDITION while off). */
  matrix?: JsonValue;
  /** GetStatus and WatchStatus fail with this (e.g. a non-maintainer). */
  statusError?: { code: keyof typeof Code; message?: string };
}

type Method = keyof typeof TestingService.method;

const shortSha = (s: string) => s.slice(0, 7);
export const shaOf = (n: number) => (n.toString(16) + "abcdef0123456789".repeat(3)).slice(0, 40);

/** A queue that the WatchStatus handler reads: statuses, heartbeats, or an error. */
class Channel {
  private queue: (WatchStatusResponse | Error)[] = [];
  private wake?: () => void;
  push(x: WatchStatusResponse | Error) {
    this.queue.push(x);
    this.wake?.();
  }
  async next(signal: AbortSignal): Promise<WatchStatusResponse> {
    while (this.queue.length === 0) {
      if (signal.aborted) throw new ConnectError("canceled", Code.Canceled);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        signal.addEventListener("abort", () => resolve(), { once: true });
      });
    }
    const x = this.queue.shift()!;
    if (x instanceof Error) throw x;
    return x;
  }
}

export class Fake {
  status: GetStatusResponse;
  info: JsonValue;
  build: JsonValue;
  events: JsonValue[];
  matrix: JsonValue;
  statusError?: ConnectError;
  /** Every call: method and request as JSON. */
  calls: { method: string; request: JsonValue }[] = [];
  watchOpens = 0;
  /** New WatchStatus calls fail with this while set (the server is down). */
  refuseWatch?: ConnectError;
  notFound = new Set<number>();
  githubDown = false;

  private failures = new Map<string, ConnectError[]>();
  private holds = new Map<string, { promise: Promise<void>; release: () => void }>();
  private watchers = new Set<Channel>();
  private stash = new Map<number, PullRequest>();
  private versionNo = 1;

  constructor(s: Scenario) {
    this.status = fromJson(GetStatusResponseSchema, s.status ?? { version: "v1", githubRepo: "internetarchive/openlibrary" });
    this.info = s.info ?? { serviceVersion: "v1.2.3", goVersion: "go1.26.8", host: "testing-box", viewer: { username: "openlibrary", signedIn: true, maintainer: true, authMode: "openlibrary" } };
    this.build = s.build ?? { exists: false };
    this.events = s.events ?? [];
    this.matrix = s.matrix ?? {};
    if (s.statusError) this.statusError = new ConnectError(s.statusError.message ?? "", Code[s.statusError.code]);
  }

  // ---- controls for the tests ----

  /** The next `times` calls of method fail with code and message. */
  fail(method: Method, code: keyof typeof Code, message = "", times = 1) {
    const list = this.failures.get(method) ?? [];
    for (let i = 0; i < times; i++) list.push(new ConnectError(message, Code[code]));
    this.failures.set(method, list);
  }

  /** Calls of method wait until release(method). */
  hold(method: Method) {
    let release!: () => void;
    const promise = new Promise<void>((r) => (release = r));
    this.holds.set(method, { promise, release });
  }

  release(method: Method) {
    this.holds.get(method)?.release();
    this.holds.delete(method);
  }

  /** Replaces the status (JSON), optionally pushing it to the watchers. */
  setStatus(json: JsonValue, push = true) {
    this.status = fromJson(GetStatusResponseSchema, json);
    if (push) this.pushStatus();
  }

  /** Someone else changes the set: a new version, pushed to watchers or not. */
  externalChange(push: boolean, title = "Someone else's PR") {
    const n = 99999;
    this.status.prs = [...this.status.prs.filter((p) => p.number !== n), this.row(n, title)];
    this.bump();
    if (push) this.pushStatus();
  }

  pushStatus() {
    for (const w of this.watchers) w.push({ $typeName: "openlibrary.testing.v1.WatchStatusResponse", status: this.status, heartbeat: false });
  }

  heartbeat() {
    for (const w of this.watchers) w.push({ $typeName: "openlibrary.testing.v1.WatchStatusResponse", heartbeat: true });
  }

  /** Ends every open stream with code (e.g. the server went away). */
  dropWatchers(code: keyof typeof Code = "Unavailable", message = "connection lost") {
    for (const w of this.watchers) w.push(new ConnectError(message, Code[code]));
  }

  setRefuseWatch(code: keyof typeof Code | null, message = "") {
    this.refuseWatch = code ? new ConnectError(message, Code[code]) : undefined;
  }

  get watcherCount() {
    return this.watchers.size;
  }

  get version() {
    return this.status.version;
  }

  callsOf(method: string) {
    return this.calls.filter((c) => c.method === method).map((c) => c.request);
  }

  // ---- the service ----

  private row(n: number, title = `Fake PR ${n}`): PullRequest {
    return create(PullRequestSchema, {
      number: n,
      title,
      commit: shaOf(n),
      headSha: shaOf(n),
      active: true,
      inSet: true,
      author: "someone",
      addedBy: "openlibrary",
      addedAt: timestampFromMs(Date.now()),
    });
  }

  private bump() {
    this.versionNo++;
    this.status.version = `v${this.versionNo}-${Math.floor(Date.now() / 1000)}`;
  }

  /** The plan and row actions, by API.md rule 1 (simplified: "added since the last deploy" = new, or on and not live). */
  private derive() {
    const s = this.status;
    const changes: { kind: ChangeKind; number: number; title: string; detail?: string; reason?: string }[] = [];
    for (const pr of s.prs) {
      const mine: typeof changes = [];
      if (!pr.inSet) mine.push({ kind: ChangeKind.REMOVE, number: pr.number, title: pr.title, reason: "dropped" });
      else if (pr.merged) mine.push({ kind: ChangeKind.REMOVE, number: pr.number, title: pr.title, reason: "merged" });
      else if (pr.closed) mine.push({ kind: ChangeKind.REMOVE, number: pr.number, title: pr.title, reason: "closed" });
      else {
        if (pr.isNew || (!pr.liveNow && pr.active && !pr.mergeConflict)) mine.push({ kind: ChangeKind.ADD, number: pr.number, title: pr.title, detail: shortSha(pr.pullLatestSha || pr.commit) });
        else if (pr.pullLatestSha) mine.push({ kind: ChangeKind.PIN, number: pr.number, title: pr.title, detail: shortSha(pr.pullLatestSha) });
        if (pr.pendingActive !== undefined && pr.pendingActive !== pr.active) {
          mine.push({ kind: pr.pendingActive ? ChangeKind.ENABLE : ChangeKind.DISABLE, number: pr.number, title: pr.title });
        }
      }
      pr.action = mine[0]?.kind ?? ChangeKind.UNSPECIFIED;
      changes.push(...mine);
    }
    changes.sort((a, b) => a.kind - b.kind || a.number - b.number);
    s.pendingChanges = changes.map((c) => create(PendingChangeSchema, c));
    s.hasPending = changes.length > 0;
    s.prs.sort((a, b) => a.number - b.number);
  }

  private async call<T>(method: Method, req: { $typeName: string; expectedVersion?: string }, write: boolean, fn: () => T): Promise<T> {
    const desc = TestingService.method[method];
    this.calls.push({ method, request: toJson(desc.input, req as never) });
    const hold = this.holds.get(method);
    if (hold) await hold.promise;
    const err = this.failures.get(method)?.shift();
    if (err) throw err;
    if (write && req.expectedVersion && req.expectedVersion !== this.status.version) {
      throw new ConnectError("the testing set changed since you loaded it; reload and try again", Code.Aborted);
    }
    const before = toJson(GetStatusResponseSchema, this.status);
    const res = fn();
    if (write && JSON.stringify(before) !== JSON.stringify(toJson(GetStatusResponseSchema, this.status))) {
      this.derive();
      this.bump();
      this.pushStatus();
    }
    return res;
  }

  private item(number: number, outcome: ItemOutcome, message: string): ItemResult {
    return create(ItemResultSchema, { number, outcome, applied: outcome === ItemOutcome.APPLIED, message });
  }

  private find(n: number) {
    return this.status.prs.find((p) => p.number === n);
  }

  transport() {
    return createRouterTransport(({ service }) => {
      service(TestingService, {
        getStatus: (req) =>
          this.call("getStatus", req, false, () => {
            if (this.statusError) throw this.statusError;
            return this.status;
          }),
        watchStatus: (req, ctx) => this.watch(req, ctx),
        getBuildResult: (req) => this.call("getBuildResult", req, false, () => fromJson(GetBuildResultResponseSchema, this.build)),
        getServerInfo: (req) => this.call("getServerInfo", req, false, () => fromJson(GetServerInfoResponseSchema, this.info)),
        listEvents: (req) =>
          this.call("listEvents", req, false, () => {
            const all = this.events
              .map((e) => fromJson(EventSchema, e))
              .filter((e) => !req.number || e.prs.some((p) => p.number === req.number));
            const start = Number(req.pageToken || 0);
            const size = req.pageSize || 50;
            const end = start + size;
            return { events: all.slice(start, end), nextPageToken: end < all.length ? String(end) : "" };
          }),
        addPRs: (req) =>
          this.call("addPRs", req, true, () => {
            const results = req.refs.map((ref) => {
              const m = /^#?(\d+)$/.exec(ref) ?? /\/pull\/(\d+)/.exec(ref) ?? /^origin\s+pull\/(\d+)\/head/.exec(ref);
              const n = m ? Number(m[1]) : 0;
              const r = (outcome: AddOutcome, message: string) => ({ ref, number: n, outcome, message });
              if (!n) return r(AddOutcome.INVALID_REF, /\/issues\//.test(ref) ? "an issue URL, not a pull request" : `"${ref}" is not a PR number or URL`);
              if (this.find(n)?.inSet) return r(AddOutcome.ALREADY_PRESENT, `#${n} is already in the testing set`);
              if (this.notFound.has(n)) return r(AddOutcome.NOT_FOUND, `GitHub has no pull request #${n}`);
              if (this.githubDown) return r(AddOutcome.GITHUB_UNAVAILABLE, "GitHub is unavailable; try again shortly");
              this.status.prs = [...this.status.prs.filter((p) => p.number !== n), this.row(n)];
              return r(AddOutcome.ADDED, `added #${n} pinned at ${shortSha(shaOf(n))}`);
            });
            return { results, status: this.status };
          }),
        removePRs: (req) =>
          this.call("removePRs", req, true, () => {
            const results = req.numbers.map((n) => {
              const pr = this.find(n);
              if (!pr?.inSet) return this.item(n, ItemOutcome.NOT_IN_SET, `#${n} is not in the testing set`);
              this.stash.set(n, clone(PullRequestSchema, pr));
              if (pr.liveNow) Object.assign(pr, { inSet: false, removed: true });
              else this.status.prs = this.status.prs.filter((p) => p.number !== n);
              return this.item(n, ItemOutcome.APPLIED, `removed #${n}`);
            });
            return { results, status: this.status };
          }),
        restorePRs: (req) =>
          this.call("restorePRs", req, true, () => {
            const results = req.numbers.map((n) => {
              const saved = this.stash.get(n);
              if (this.find(n)?.inSet) return this.item(n, ItemOutcome.ALREADY_PRESENT, `#${n} is in the testing set already`);
              if (!saved) return this.item(n, ItemOutcome.NOTHING_TO_RESTORE, `#${n} was not removed since the last deploy`);
              this.stash.delete(n);
              this.status.prs = [...this.status.prs.filter((p) => p.number !== n), saved];
              return this.item(n, ItemOutcome.APPLIED, `restored #${n}`);
            });
            return { results, status: this.status };
          }),
        stagePRs: (req) =>
          this.call("stagePRs", req, true, () => {
            if (req.stage === Stage.UNSPECIFIED) throw new ConnectError("stage must be ENABLE, DISABLE, PULL_LATEST or UNSTAGE", Code.InvalidArgument);
            const results = req.numbers.map((n) => {
              const pr = this.find(n);
              if (!pr?.inSet) return this.item(n, ItemOutcome.NOT_IN_SET, `#${n} is not in the testing set`);
              switch (req.stage) {
                case Stage.ENABLE:
                case Stage.DISABLE: {
                  const want = req.stage === Stage.ENABLE;
                  if ((pr.pendingActive ?? pr.active) === want) return this.item(n, ItemOutcome.UNCHANGED, `#${n} is already switched ${want ? "on" : "off"} for the next deploy`);
                  pr.pendingActive = want === pr.active ? undefined : want;
                  return this.item(n, ItemOutcome.APPLIED, `#${n} switches ${want ? "on" : "off"} at the next deploy`);
                }
                case Stage.PULL_LATEST:
                  if (this.githubDown) return this.item(n, ItemOutcome.GITHUB_UNAVAILABLE, "GitHub is unavailable; try again shortly");
                  if (!pr.headSha || pr.headSha === pr.commit || pr.headSha === pr.pullLatestSha) {
                    return this.item(n, ItemOutcome.HEAD_UNCHANGED, `#${n}'s head is still the pinned commit ${shortSha(pr.commit)}`);
                  }
                  pr.pullLatestSha = pr.headSha;
                  return this.item(n, ItemOutcome.APPLIED, `#${n} moves to ${shortSha(pr.headSha)} at the next deploy`);
                default:
                  if (pr.pendingActive === undefined && !pr.pullLatestSha) return this.item(n, ItemOutcome.UNCHANGED, `#${n} has nothing staged`);
                  pr.pendingActive = undefined;
                  pr.pullLatestSha = "";
                  return this.item(n, ItemOutcome.APPLIED, `#${n} has nothing staged any more`);
              }
            });
            return { results, status: this.status };
          }),
        deploy: (req) =>
          this.call("deploy", req, true, () => {
            const applied = [...this.status.pendingChanges];
            if (req.dryRun) return { outcome: DeployOutcome.DRY_RUN, applied, status: this.status };
            if (!this.status.hasPending) throw new ConnectError("nothing to deploy: testing matches the current set", Code.FailedPrecondition);
            const now = timestampFromMs(Date.now());
            const s = this.status;
            s.prs = s.prs
              .filter((p) => p.inSet && !p.merged && !p.closed)
              .map((p) => {
                if (p.pullLatestSha) Object.assign(p, { commit: p.pullLatestSha, pullLatestSha: "", drift: 0, diverged: false });
                if (p.pendingActive !== undefined) p.active = p.pendingActive;
                p.pendingActive = undefined;
                return Object.assign(p, { liveNow: p.active, isNew: false });
              });
            Object.assign(s, { lastDeployAt: now, deployStartedAt: now, deploying: s.jenkinsConfigured, deployResult: s.jenkinsConfigured ? "IN_PROGRESS" : "", deployStage: "", deployFinishedAt: undefined });
            this.stash.clear();
            return s.jenkinsConfigured
              ? { outcome: DeployOutcome.TRIGGERED, applied, jenkinsQueueUrl: "https://jenkins.invalid/queue/item/7/", status: s }
              : { outcome: DeployOutcome.UNCONFIGURED, applied, status: s };
          }),
        getConflictMatrix: (req) =>
          this.call("getConflictMatrix", req, false, () => {
            const state = this.status.mergePrediction?.state ?? MergePredictionState.UNSPECIFIED;
            if (state === MergePredictionState.UNSPECIFIED || state === MergePredictionState.OFF) {
              throw new ConnectError("deploy prediction is off: start testingd with --git-dir", Code.FailedPrecondition);
            }
            return fromJson(GetConflictMatrixResponseSchema, this.matrix);
          }),
        evictDrift: (req) =>
          this.call("evictDrift", req, true, () => {
            this.status.driftResolvedAt = timestampFromMs(Date.now());
            return { status: this.status };
          }),
      });
    });
  }

  private async *watch(req: { $typeName: "openlibrary.testing.v1.WatchStatusRequest" }, ctx: HandlerContext) {
    this.watchOpens++;
    await this.call("watchStatus", req, false, () => undefined);
    if (this.refuseWatch) throw this.refuseWatch;
    if (this.statusError) throw this.statusError;
    const ch = new Channel();
    this.watchers.add(ch);
    try {
      yield { status: this.status };
      for (;;) yield await ch.next(ctx.signal);
    } finally {
      this.watchers.delete(ch);
    }
  }
}
