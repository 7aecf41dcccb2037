/**
 * A small llama-server-shaped OpenAI-compatible server on 127.0.0.1 for the upstream engine's tests:
 * /health, /v1/models, /props, /tokenize ({content}), /metrics (llamacpp:), and streaming chat and text
 * completions with reasoning in a configurable delta field.
 */
import { createServer } from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface UpstreamServerOptions {
  modelId?: string;
  /** /props n_ctx (default 2048). */
  nCtx?: number;
  /** Where reasoning goes in chat deltas (default "reasoning_content"). */
  reasoningField?: "reasoning_content" | "reasoning" | "thinking";
  reasoning?: string[];
  answer?: string[];
  /** Put cumulative usage in every chunk when asked (default false: usage only at the end). */
  continuousUsage?: boolean;
  /** /health status; "none" answers 404 (default 200). */
  health?: number | "none";
  tokenDelayMs?: number;
  /** Answer every completion request with this status and body. */
  failWith?: { status: number; body: unknown };
  /** Send this many tokens, then destroy the socket mid-stream. */
  dropAfterTokens?: number;
  /** Answer /v1/models with this status. */
  modelsStatus?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  body: Record<string, unknown> | undefined;
  headers: IncomingMessage["headers"];
}

export interface UpstreamServer {
  /** e.g. http://127.0.0.1:12345/v1 */
  baseUrl: string;
  requests: RecordedRequest[];
  /** Streams being written now. */
  active(): number;
  /** Streams the client cancelled before they finished. */
  cancelled(): number;
  /** Distinct client sockets seen. */
  sockets(): number;
  close(): Promise<void>;
}

const words = (text: string): number => (text.match(/\S+/g) ?? []).length;

export async function startUpstreamServer(options: UpstreamServerOptions = {}): Promise<UpstreamServer> {
  const modelId = options.modelId ?? "phi-3-mini-4k-instruct-q4.gguf";
  const nCtx = options.nCtx ?? 2048;
  const reasoning = options.reasoning ?? ["Thinking", " hard", "."];
  const answer = options.answer ?? ["Hello", " there", "!"];
  const requests: RecordedRequest[] = [];
  let active = 0;
  let cancelled = 0;
  const sockets = new Set<unknown>();

  const readBody = (req: IncomingMessage): Promise<Record<string, unknown> | undefined> =>
    new Promise((resolve) => {
      let data = "";
      req.setEncoding("utf8");
      req.on("data", (c: string) => (data += c));
      req.on("end", () => {
        try {
          resolve(data === "" ? undefined : (JSON.parse(data) as Record<string, unknown>));
        } catch {
          resolve(undefined);
        }
      });
    });
  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };

  const server = createServer(async (req, res) => {
    sockets.add(req.socket);
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const body = req.method === "POST" ? await readBody(req) : undefined;
    requests.push({ method: req.method ?? "GET", path, body, headers: req.headers });
    if (path === "/health") {
      if (options.health === "none") return json(res, 404, { error: "not found" });
      return json(
        res,
        options.health ?? 200,
        options.health === 503 ? { error: { code: 503, message: "Loading model" } } : { status: "ok" },
      );
    }
    if (path === "/v1/models") {
      if (options.modelsStatus !== undefined)
        return json(res, options.modelsStatus, {
          error: { message: "Invalid API Key", code: options.modelsStatus },
        });
      return json(res, 200, {
        object: "list",
        data: [{ id: modelId, object: "model", owned_by: "llamacpp", meta: { n_ctx_train: 131072 } }],
      });
    }
    if (path === "/props")
      return json(res, 200, { default_generation_settings: { n_ctx: nCtx }, total_slots: 4 });
    if (path === "/tokenize") {
      if (typeof body?.["content"] !== "string")
        return json(res, 400, { error: { code: 400, message: "content missing" } });
      return json(res, 200, { tokens: Array.from({ length: words(body["content"]) + 1 }, (_, i) => i) });
    }
    if (path === "/metrics") {
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
      return res.end(
        `# TYPE llamacpp:kv_cache_usage_ratio gauge\nllamacpp:kv_cache_usage_ratio 0.5\n# TYPE llamacpp:requests_processing gauge\nllamacpp:requests_processing ${active}\nllamacpp:requests_deferred 2\n`,
      );
    }
    const chat = path === "/v1/chat/completions";
    if (!chat && path !== "/v1/completions")
      return json(res, 404, { error: { code: 404, message: "File Not Found" } });
    if (options.failWith !== undefined) return json(res, options.failWith.status, options.failWith.body);
    const prompt = chat
      ? ((body?.["messages"] as Array<{ content: string }> | undefined) ?? []).map((m) => m.content).join(" ")
      : String(body?.["prompt"] ?? "");
    const promptTokens = words(prompt) + 1;
    if (promptTokens > nCtx) {
      return json(res, 400, {
        error: {
          code: 400,
          message: "the request exceeds the available context size, try increasing it",
          type: "exceed_context_size_error",
          n_prompt_tokens: promptTokens,
          n_ctx: nCtx,
        },
      });
    }
    const streamOptions = (body?.["stream_options"] ?? {}) as {
      include_usage?: boolean;
      continuous_usage_stats?: boolean;
    };
    const maxTokens = Number(body?.["max_tokens"] ?? 100);
    const stop = (body?.["stop"] as string[] | undefined) ?? [];
    const script = [
      ...(chat ? reasoning.map((t) => ({ t, r: true })) : []),
      ...answer.map((t) => ({ t, r: false })),
    ];
    res.writeHead(200, { "content-type": "text/event-stream" });
    active++;
    let finished = false;
    res.on("close", () => {
      active--;
      if (!finished) cancelled++;
    });
    let completion = 0;
    let finish = "stop";
    let content = "";
    const base = {
      id: "chatcmpl-x",
      created: 1,
      model: modelId,
      object: chat ? "chat.completion.chunk" : "text_completion",
    };
    const usage = (): Record<string, number> => ({
      prompt_tokens: promptTokens,
      completion_tokens: completion,
      total_tokens: promptTokens + completion,
    });
    const send = (choice: Record<string, unknown>): void => {
      const chunk: Record<string, unknown> = { ...base, choices: [choice] };
      if (options.continuousUsage === true && streamOptions.continuous_usage_stats === true)
        chunk["usage"] = usage();
      res.write(`data: ${JSON.stringify(chunk)}\n\n`);
    };
    for (const { t, r } of script) {
      if (completion >= maxTokens) {
        finish = "length";
        break;
      }
      if (!r && stop.some((s) => (content + t).includes(s))) break;
      await new Promise((resolve) => setTimeout(resolve, options.tokenDelayMs ?? 1));
      if (res.destroyed) return;
      if (options.dropAfterTokens !== undefined && completion >= options.dropAfterTokens) {
        res.socket?.destroy();
        return;
      }
      completion++;
      if (!r) content += t;
      if (chat)
        send({
          index: 0,
          delta: r ? { [options.reasoningField ?? "reasoning_content"]: t } : { content: t },
          finish_reason: null,
        });
      else send({ index: 0, text: t, finish_reason: null });
    }
    if (chat) send({ index: 0, delta: {}, finish_reason: finish });
    else send({ index: 0, text: "", finish_reason: finish });
    if (streamOptions.include_usage === true)
      res.write(`data: ${JSON.stringify({ ...base, choices: [], usage: usage() })}\n\n`);
    finished = true;
    res.end("data: [DONE]\n\n");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    active: () => active,
    cancelled: () => cancelled,
    sockets: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
