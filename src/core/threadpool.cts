/**
 * The size of libuv's thread pool, where node-llama-cpp runs every decode and every sampling of the
 * embedded engine. Node sizes the pool once, from UV_THREADPOOL_SIZE, when the pool is first used, and
 * loading an ES module already uses it: so the `servelab` launcher (src/cli/servelab.cts, CommonJS,
 * loaded with synchronous reads) sets the variable before anything else is loaded. This file is
 * CommonJS for the same reason.
 *
 * With libuv's 4 threads, 32 concurrent sequences sample 4 at a time: on the H200, with node-llama-cpp's
 * addon patched (npm run engine:build), a step of 32 sequences took 12.5 ms with 4 threads and 8.5 ms
 * with 16 (docs/benchmarks/h200.md).
 */

/** libuv's own default. */
const libuvDefaultSize = 4;
/** libuv's ceiling (UV_THREADPOOL_SIZE above it is clamped). */
const libuvMaxSize = 1024;
/** servelab's ceiling for the size it picks itself. */
const chosenMaxSize = 64;

interface ThreadPoolSize {
  readonly size: number;
  /** environment: the user's UV_THREADPOOL_SIZE; servelab: the launcher chose it; libuv: libuv's default. */
  readonly source: "environment" | "servelab" | "libuv";
}

/** The size servelab picks for a machine with `cores` CPUs: one thread a core, at least libuv's 4, at most 64. */
function defaultThreadPoolSize(cores: number): number {
  return Math.min(chosenMaxSize, Math.max(libuvDefaultSize, Math.floor(cores)));
}

/** The marker the launcher leaves so that the size it chose is not reported as the user's. */
const chosenMarker = "SERVELAB_UV_THREADPOOL_SIZE_CHOSEN";

/**
 * Sets UV_THREADPOOL_SIZE in `env` when the user did not (or left it empty). Must run before the pool's
 * first use to take effect; a child process given this `env` starts with it.
 */
function applyThreadPoolDefault(env: NodeJS.ProcessEnv, cores: number): ThreadPoolSize {
  const given = env.UV_THREADPOOL_SIZE;
  if (given !== undefined && given.trim() !== "") return describeThreadPool(env);
  const size = defaultThreadPoolSize(cores);
  env.UV_THREADPOOL_SIZE = String(size);
  env[chosenMarker] = String(size);
  return { size, source: "servelab" };
}

/** What the pool's size is for a process started with `env` (libuv's rules: 1 to 1024, 4 when unset or invalid). */
function describeThreadPool(env: NodeJS.ProcessEnv): ThreadPoolSize {
  const given = env.UV_THREADPOOL_SIZE;
  if (given === undefined || given.trim() === "") return { size: libuvDefaultSize, source: "libuv" };
  const parsed = Number.parseInt(given, 10);
  // libuv reads the value with atoi: no number counts as 0, and 0 becomes 1
  const size = Math.min(libuvMaxSize, Math.max(1, Number.isNaN(parsed) ? 0 : parsed));
  return { size, source: env[chosenMarker] === given ? "servelab" : "environment" };
}

const threadpool = { defaultThreadPoolSize, applyThreadPoolDefault, describeThreadPool };
// CommonJS under verbatimModuleSyntax: one export object (ES modules import it as the default export)
export = threadpool;
