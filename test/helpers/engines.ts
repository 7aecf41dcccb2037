/**
 * Engine decorators for the reliability tests. They wrap a real engine (llama.cpp on a tiny model):
 * `throttleEngine` makes a generation hold its sequence for a known time whatever the machine's speed.
 * (Engine failures are caused for real under the engine: see reliability-engine-faults.test.ts.)
 */
import type { Engine, EngineState, GenerateEvent, GenerateRequest } from "../../src/engines/engine.js";

function forward(
  engine: Engine,
  generate: (request: GenerateRequest) => AsyncIterable<GenerateEvent>,
  state: () => EngineState,
): Engine {
  return {
    get state() {
      return state();
    },
    info: () => engine.info(),
    stats: () => engine.stats(),
    load: (signal) => engine.load(signal),
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
