import { describe, expect, it } from "vitest";
import threadpool from "../../../src/core/threadpool.cjs";

describe("libuv thread pool size", () => {
  it("is one thread a core, at least libuv's 4 and at most 64", () => {
    expect([1, 2, 4, 5, 16, 64, 200].map(threadpool.defaultThreadPoolSize)).toEqual([4, 4, 4, 5, 16, 64, 64]);
  });

  it("is set when the user left it unset or empty, and reported as servelab's choice", () => {
    for (const given of [undefined, "", "  "]) {
      const env: NodeJS.ProcessEnv = given === undefined ? {} : { UV_THREADPOOL_SIZE: given };
      expect(threadpool.applyThreadPoolDefault(env, 16)).toEqual({ size: 16, source: "servelab" });
      expect(env.UV_THREADPOOL_SIZE).toBe("16");
      expect(threadpool.describeThreadPool(env)).toEqual({ size: 16, source: "servelab" });
    }
  });

  it("keeps the user's value, read the way libuv reads it", () => {
    const env: NodeJS.ProcessEnv = { UV_THREADPOOL_SIZE: "2" };
    expect(threadpool.applyThreadPoolDefault(env, 16)).toEqual({ size: 2, source: "environment" });
    expect(env.UV_THREADPOOL_SIZE).toBe("2");
    expect(threadpool.describeThreadPool({ UV_THREADPOOL_SIZE: "0" })).toEqual({
      size: 1,
      source: "environment",
    });
    expect(threadpool.describeThreadPool({ UV_THREADPOOL_SIZE: "abc" }).size).toBe(1);
    expect(threadpool.describeThreadPool({ UV_THREADPOOL_SIZE: "5000" }).size).toBe(1024);
    expect(threadpool.describeThreadPool({})).toEqual({ size: 4, source: "libuv" });
  });

  it("reports a value the user changed after the launcher chose one as the user's", () => {
    const env: NodeJS.ProcessEnv = {};
    threadpool.applyThreadPoolDefault(env, 8);
    env.UV_THREADPOOL_SIZE = "3";
    expect(threadpool.describeThreadPool(env)).toEqual({ size: 3, source: "environment" });
  });
});
