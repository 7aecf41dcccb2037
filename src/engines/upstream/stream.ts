/**
 * One streamed request to the upstream through undici's dispatch API, its response split into SSE events
 * as the bytes arrive. No body stream and no generator in between: the events of one network read are
 * queued synchronously and taken without a promise each; the reader waits only when none is queued.
 */
import type { Dispatcher } from "undici";
import { SseDataDecoder } from "./sse.js";

/** Most events queued before the socket is paused (the reader is slower than the upstream). */
const pauseAt = 1024;
/** Longest error body kept for the error message. */
const maxErrorBody = 64 * 1024;

export class SseResponse {
  readonly #events: string[] = [];
  #head = 0;
  #status = 0;
  #ended = false;
  #error: Error | undefined;
  #errorBody = "";
  #controller: Dispatcher.DispatchController | undefined;
  #abortReason: Error | undefined;
  #wake: (() => void) | undefined;
  readonly #started: Promise<number>;
  #onStarted: ((status: number) => void) | undefined;
  #onFailedToStart: ((err: Error) => void) | undefined;
  readonly #sse = new SseDataDecoder((data) => this.#events.push(data));

  /** Sends the request at once. */
  constructor(dispatcher: Dispatcher, options: Dispatcher.DispatchOptions) {
    this.#started = new Promise<number>((resolve, reject) => {
      this.#onStarted = resolve;
      this.#onFailedToStart = reject;
    });
    // Read through started(); a failure nobody asked about is not an unhandled rejection.
    this.#started.catch(() => undefined);
    dispatcher.dispatch(options, {
      onRequestStart: (controller) => {
        this.#controller = controller;
        if (this.#abortReason !== undefined) controller.abort(this.#abortReason);
      },
      onResponseStart: (_controller, status) => {
        this.#status = status;
        this.#onStarted?.(status);
      },
      onResponseData: (controller, chunk) => {
        if (this.#status === 200) {
          this.#sse.push(chunk);
          if (this.#events.length - this.#head >= pauseAt) controller.pause();
        } else if (this.#errorBody.length < maxErrorBody) this.#errorBody += chunk.toString("utf8");
        this.#notify();
      },
      onResponseEnd: () => {
        if (this.#status === 200) this.#sse.end();
        this.#ended = true;
        this.#notify();
      },
      onResponseError: (_controller, err) => {
        this.#error ??= err;
        this.#onFailedToStart?.(err);
        this.#notify();
      },
    });
  }

  /** Resolves with the status once the response head arrived; rejects when no response came. */
  started(): Promise<number> {
    return this.#started;
  }

  /** The next event's data; undefined when none is queued now (see `done` and `wait()`). Throws the
   * error that broke the response once the events before it were taken. */
  take(): string | undefined {
    const events = this.#events;
    if (this.#head < events.length) {
      const data = events[this.#head++] as string;
      if (this.#head === events.length) {
        events.length = 0;
        this.#head = 0;
        if (this.#controller?.paused === true) this.#controller.resume();
      }
      return data;
    }
    if (this.#error !== undefined) throw this.#error;
    return undefined;
  }

  /** The response ended and every event was taken. */
  get done(): boolean {
    return this.#ended && this.#head === this.#events.length;
  }

  /** Resolves when more arrived: events, the end, or an error. */
  wait(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#wake = resolve;
    });
  }

  /** The whole body of a response that is not an event stream (an error), at most 64 KiB of it. */
  async text(): Promise<string> {
    while (!this.#ended && this.#error === undefined) await this.wait();
    return this.#errorBody;
  }

  /** Cancels the request (no-op once it ended). The reader sees `reason` at once, even while the request
   * still waits for a connection (undici drops it when one frees up). */
  abort(reason: Error): void {
    if (this.#ended || this.#error !== undefined) return;
    this.#abortReason = reason;
    this.#error = reason;
    this.#onFailedToStart?.(reason);
    this.#notify();
    this.#controller?.abort(reason);
  }

  #notify(): void {
    const wake = this.#wake;
    if (wake === undefined) return;
    this.#wake = undefined;
    wake();
  }
}
