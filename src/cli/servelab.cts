#!/usr/bin/env node
/**
 * The `servelab` executable. CommonJS on purpose: it sizes libuv's thread pool (see
 * ../core/threadpool.cts) before any ES module is loaded, then loads the command line.
 */
// CommonJS under verbatimModuleSyntax: `import x = require()` is the only static import
// eslint-disable-next-line @typescript-eslint/no-require-imports
import os = require("node:os");
// eslint-disable-next-line @typescript-eslint/no-require-imports
import threadpool = require("../core/threadpool.cjs");

threadpool.applyThreadPoolDefault(process.env, os.availableParallelism());
void import("./index.js");
