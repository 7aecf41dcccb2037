import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UpstreamError } from "../../../src/core/errors.js";
import { createEndpointEmbeddingProvider } from "../../../src/compare/quality/embeddings.js";

interface Seen {
  url: string;
  authorization: string | undefined;
  body: { model: string; input: string[]; encoding_format: string };
}

/** A tiny OpenAI-style embeddings server: the vector of a text is [length, count of 'a'], returned in reverse order. */
let server: Server;
let baseUrl: string;
const seen: Seen[] = [];

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

beforeAll(async () => {
  server = createServer((req, res) => {
    void readBody(req).then((text) => {
      const body = JSON.parse(text) as Seen["body"];
      seen.push({ url: req.url ?? "", authorization: req.headers.authorization, body });
      res.setHeader("content-type", "application/json");
      if (body.model === "broken") {
        res.statusCode = 503;
        res.end(JSON.stringify({ error: { message: "model is loading", type: "server_error" } }));
        return;
      }
      if (body.model === "short") {
        res.end(JSON.stringify({ object: "list", data: [] }));
        return;
      }
      const data = body.input.map((t, index) => ({
        object: "embedding",
        index,
        embedding: [t.length, [...t].filter((c) => c === "a").length],
      }));
      res.end(JSON.stringify({ object: "list", model: body.model, data: data.reverse() }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe("createEndpointEmbeddingProvider", () => {
  it("posts batches to {baseUrl}/embeddings and orders vectors by index", async () => {
    seen.length = 0;
    const provider = createEndpointEmbeddingProvider({
      baseUrl: `${baseUrl}/`,
      model: "mini-embed",
      apiKey: "sk-test",
      batchSize: 2,
    });
    const vectors = await provider.embed(["a", "bb", "aaa", "abcd", "aa"]);
    expect(vectors).toEqual([
      [1, 1],
      [2, 0],
      [3, 3],
      [4, 1],
      [2, 2],
    ]);
    expect(provider.model).toBe("mini-embed");
    expect(seen.map((s) => s.body.input)).toEqual([["a", "bb"], ["aaa", "abcd"], ["aa"]]);
    expect(seen[0]).toMatchObject({ url: "/v1/embeddings", authorization: "Bearer sk-test" });
    expect(seen[0]?.body).toMatchObject({ model: "mini-embed", encoding_format: "float" });
  });

  it("fails with UPSTREAM_FAILED and the server's error on HTTP errors and malformed answers", async () => {
    const broken = createEndpointEmbeddingProvider({ baseUrl, model: "broken" });
    await expect(broken.embed(["x"])).rejects.toSatisfy(
      (err: unknown) =>
        err instanceof UpstreamError &&
        err.code === "UPSTREAM_FAILED" &&
        err.status === 503 &&
        /HTTP 503: .*model is loading/.test(err.message),
    );
    const short = createEndpointEmbeddingProvider({ baseUrl, model: "short" });
    await expect(short.embed(["x", "y"])).rejects.toThrow(/returned 0 embeddings for 2 inputs/);
  });

  it("fails clearly when nothing listens", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const provider = createEndpointEmbeddingProvider({
      baseUrl: `http://127.0.0.1:${port}/v1`,
      model: "m",
      timeoutMs: 2000,
    });
    await expect(provider.embed(["x"])).rejects.toThrow(
      /embedding request to http:\/\/127\.0\.0\.1:\d+\/v1\/embeddings failed/,
    );
    expect(() => createEndpointEmbeddingProvider({ baseUrl: "not a url", model: "m" })).toThrow(/not valid/);
  });
});
