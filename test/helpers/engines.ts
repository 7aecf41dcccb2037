/**
 * Engine decorators for the reliability tests. They wrap a real engine (llama.cpp on a tiny model):
 * `throttleEngine` makes a generation hold its sequence for a known time whatever the machine's speed;
 * `gatedLoadEngine` keeps a load going until the test lets it finish.
 * (Engine failures are caused for real under the engine: see reliability-engine-faults.test.ts.)
 */
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
    ...(engine.renderChat === undefined ? {} : { renderChat: (m, o) => engine.renderChat!(m, o) }),
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
