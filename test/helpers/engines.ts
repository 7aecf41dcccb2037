/**
 * Engine decorators for the reliability tests. They wrap a real engine (llama.cpp on a tiny model):
 * `throttleEngine` makes a generation hold its sequence for a known time whatever the machine's speed;
 * `faultyEngine` injects the failures a native engine can have (an error mid-generation, a dead
 * engine), so the server's handling of them runs against the real slot pool; `gatedLoadEngine` keeps
 * a load going until the test lets it finish.
 */
import { EngineError } from "../../src/core/errors.js";
import type { Engine, EngineState, GenerateEvent, GenerateRequest } from "../../src/engines/engine.js";

function forward(
  engine: Engine,
  generate: (request: GenerateRequest) => AsyncIterable<GenerateEvent>,
  state: () => EngineState,
  load: (signal?: AbortSignal) => Promise<void> = (signal) => engine.load(signal),
): Engine {
  return {
    get state() {
      return state();
    },
    info: () => engine.info(),
    stats: () => engine.stats(),
    load,
    countTokens: (text) => engine.countTokens(text),
    ...(engine.renderChat === undefined ? {} : { renderChat: (m) => engine.renderChat!(m) }),
    generate,
    dispose: () => engine.dispose(),
    [Symbol.asyncDispose]: () => engine.dispose(),
  };
}

/** Waits `delayMs` after each text event: the engine's sequence stays busy meanwhile. */
export function throttleEngine(engine: Engine, delayMs: number): Engine {
  return forward(
    engine,
    (request) => ({
      async *[Symbol.asyncIterator]() {
        for await (const event of engine.generate(request)) {
          yield event;
          if (event.type === "text") await new Promise((r) => setTimeout(r, delayMs));
        }
      },
    }),
    () => engine.state,
  );
}

export interface FaultyEngine extends Engine {
  /** The next generations throw `error` after `afterEvents` events (a native error mid-decode). */
  failNext(error: Error, afterEvents: number, count?: number): void;
  /** From now on the engine reports `failed` and every generation throws at once (it died). */
  kill(message: string): void;
  /** Back to the wrapped engine's state. */
  revive(): void;
}

export function faultyEngine(engine: Engine): FaultyEngine {
  let failure: { error: Error; afterEvents: number; count: number } | undefined;
  let dead: string | undefined;
  const base = forward(
    engine,
    (request) => ({
      async *[Symbol.asyncIterator]() {
        if (dead !== undefined) throw new EngineError(dead);
        const planned = failure;
        if (planned !== undefined && --planned.count <= 0) failure = undefined;
        let seen = 0;
        for await (const event of engine.generate(request)) {
          if (planned !== undefined && seen++ >= planned.afterEvents) throw planned.error;
          yield event;
        }
      },
    }),
    () => (dead !== undefined ? "failed" : engine.state),
  );
  return Object.assign(base, {
    failNext(error: Error, afterEvents: number, count = 1) {
      failure = { error, afterEvents, count };
    },
    kill(message: string) {
      dead = message;
    },
    revive() {
      dead = undefined;
    },
  });
}

export interface GatedLoadEngine extends Engine {
  /** Lets the load go on: until then load() waits, and the engine says "loading". */
  release(): void;
}

/** An engine whose load() waits for release() before loading the wrapped one: the server is loading
 * for as long as the test wants, however fast the machine loads the model. */
export function gatedLoadEngine(engine: Engine): GatedLoadEngine {
  let release = (): void => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let waiting = false;
  const base = forward(
    engine,
    (request) => engine.generate(request),
    () => (waiting ? "loading" : engine.state),
    async (signal) => {
      waiting = true;
      try {
        await gate;
      } finally {
        waiting = false;
      }
      await engine.load(signal);
    },
  );
  return Object.assign(base, { release: () => release() });
}
