// StatusController keeps the page live: one WatchStatus stream, opened when the
// host connects and closed when it disconnects. A dropped stream reconnects with
// exponential backoff and jitter; a stream silent for longer than the heartbeat
// allows (the server sends one every 15 s) counts as dead. Writes hand their
// returned status to apply(), so the page never waits for the stream to echo them.
import { Code, ConnectError } from "@connectrpc/connect";
import type { ReactiveController, ReactiveControllerHost } from "lit";
import type { TestingClient } from "./client.js";
import { describe, type Problem } from "./errors.js";
import type { GetStatusResponse } from "./gen/openlibrary/testing/v1/testing_pb.js";

/**
 * connecting: no answer yet; online: the stream is open; offline: it dropped and a
 * retry is scheduled; denied: the caller may not watch (not a maintainer), no retry.
 */
export type Connection = "connecting" | "online" | "offline" | "denied";

export interface StatusOptions {
  /** Silence after which the stream counts as dead (ms). */
  silenceMs?: number;
  /** First retry delay (ms); doubles per failed attempt. */
  minBackoffMs?: number;
  /** Longest retry delay (ms). */
  maxBackoffMs?: number;
}

export class StatusController implements ReactiveController {
  status?: GetStatusResponse;
  connection: Connection = "connecting";
  /** Why the stream is not open (offline/denied). */
  problem?: Problem;
  /** When the next reconnect attempt happens (ms since the epoch). */
  retryAt?: number;

  private readonly opts: Required<StatusOptions>;
  private abort?: AbortController;
  private retryTimer?: ReturnType<typeof setTimeout>;
  private attempt = 0;
  private running = false;

  constructor(
    private readonly host: ReactiveControllerHost,
    private readonly client: () => TestingClient | undefined,
    opts: StatusOptions = {},
  ) {
    this.opts = { silenceMs: 45_000, minBackoffMs: 1_000, maxBackoffMs: 30_000, ...opts };
    host.addController(this);
  }

  hostConnected(): void {
    this.running = true;
    addEventListener("online", this.retryNow);
    void this.open();
  }

  hostDisconnected(): void {
    this.running = false;
    removeEventListener("online", this.retryNow);
    clearTimeout(this.retryTimer);
    this.abort?.abort();
    this.abort = undefined;
  }

  /** Shows a status at once (a write's answer, a re-sync). */
  apply(status: GetStatusResponse): void {
    this.status = status;
    this.host.requestUpdate();
  }

  /** Reconnect now instead of waiting for the backoff (a button, the browser going online). */
  readonly retryNow = (): void => {
    if (!this.running || this.connection === "online") return;
    clearTimeout(this.retryTimer);
    this.attempt = 0;
    void this.open();
  };

  private async open(): Promise<void> {
    const client = this.client();
    if (!client || !this.running) return;
    this.abort?.abort();
    const ac = new AbortController();
    this.abort = ac;
    this.retryAt = undefined;
    let silence: ReturnType<typeof setTimeout> | undefined;
    let silent = false;
    const arm = () => {
      clearTimeout(silence);
      silence = setTimeout(() => {
        silent = true;
        ac.abort();
      }, this.opts.silenceMs);
    };
    arm();
    try {
      for await (const msg of client.watchStatus({}, { signal: ac.signal })) {
        arm();
        if (msg.status) this.status = msg.status;
        if (msg.status || this.status) {
          this.attempt = 0;
          this.set("online");
        }
      }
      throw new ConnectError("the server closed the status stream", Code.Unavailable);
    } catch (err) {
      if (ac !== this.abort || !this.running) return; // closed on purpose
      const e = ConnectError.from(err);
      this.problem = silent
        ? { code: Code.DeadlineExceeded, text: `No word from the server for ${this.opts.silenceMs / 1000} s: the connection seems dead.` }
        : describe(e, "load");
      if (e.code === Code.Unauthenticated || e.code === Code.PermissionDenied) {
        this.set("denied");
        return;
      }
      this.schedule();
      this.set("offline");
    } finally {
      clearTimeout(silence);
    }
  }

  private schedule(): void {
    const { minBackoffMs, maxBackoffMs } = this.opts;
    const ceiling = Math.min(maxBackoffMs, minBackoffMs * 2 ** this.attempt);
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2); // "equal jitter"
    this.attempt++;
    this.retryAt = Date.now() + delay;
    this.retryTimer = setTimeout(() => void this.open(), delay);
  }

  private set(c: Connection): void {
    this.connection = c;
    if (c === "online") this.problem = undefined;
    this.host.requestUpdate();
  }
}
