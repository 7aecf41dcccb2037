/** Reading vLLM's known start-up and runtime failures from its log. */

export type VllmFailureKind =
  | "kv-cache-memory"
  | "out-of-memory"
  | "unsupported-dtype"
  | "unsupported-quantization"
  | "model-not-found"
  | "bad-arguments"
  | "port-in-use";

export interface VllmFailure {
  kind: VllmFailureKind;
  /** One line: what happened and what to change. */
  message: string;
  /** The log line that gave it away. */
  line: string;
}

interface Rule {
  kind: VllmFailureKind;
  pattern: RegExp;
  explain: (line: string, match: RegExpExecArray) => string;
}

const rules: Rule[] = [
  {
    kind: "kv-cache-memory",
    pattern: /No available memory for the cache blocks/,
    explain: () =>
      "vLLM has no GPU memory left for the KV cache: lower --max-model-len (maxModelLen) or raise --gpu-memory-utilization (gpuMemoryUtilization), or use a smaller or quantized model",
  },
  {
    kind: "out-of-memory",
    pattern: /CUDA out of memory|OutOfMemoryError|CUDA error: out of memory/,
    explain: (line) =>
      `vLLM ran out of GPU memory during start-up (${trimLine(line)}): lower --max-model-len (maxModelLen) or raise --gpu-memory-utilization (gpuMemoryUtilization) if nothing else uses the GPU, or use a quantized checkpoint`,
  },
  {
    kind: "unsupported-dtype",
    pattern: /Bfloat16 is only supported on GPUs with compute capability|dtype .* is not supported/i,
    explain: (line) => `this GPU does not support the requested dtype (${trimLine(line)}): use dtype float16`,
  },
  {
    kind: "unsupported-quantization",
    pattern: /quantization(?: method)? (\S+) is not supported|not supported for the current GPU/i,
    explain: (line) =>
      `this GPU does not support the requested quantization (${trimLine(line)}): pick another quantization (awq, gptq) or a GPU with a higher compute capability`,
  },
  {
    kind: "model-not-found",
    pattern:
      /Repository Not Found|RepositoryNotFoundError|does not appear to have a file named config\.json|Invalid repository ID or local directory|No such file or directory: .*config\.json/,
    explain: (line) =>
      `the model was not found (${trimLine(line)}): check the Hugging Face repo id or the local path (private or gated repos need HF_TOKEN)`,
  },
  {
    kind: "bad-arguments",
    pattern: /error: (unrecognized arguments: .*|argument .*)$/,
    explain: (_line, match) =>
      `vLLM rejected its command line: ${match[1] ?? ""} (check extraArgs and the vLLM version)`,
  },
  {
    kind: "port-in-use",
    pattern: /address already in use/i,
    explain: (line) => `vLLM could not bind its port (${trimLine(line)}): choose another port`,
  },
];

function trimLine(line: string): string {
  const t = line.trim();
  return t.length > 300 ? `${t.slice(0, 300)}...` : t;
}

/** The first known failure in vLLM's output, or undefined when none is recognised. */
export function diagnoseVllmLog(log: string | readonly string[]): VllmFailure | undefined {
  const lines = typeof log === "string" ? log.split(/\r?\n/) : log;
  for (const rule of rules) {
    for (const line of lines) {
      const match = rule.pattern.exec(line);
      if (match !== null) return { kind: rule.kind, message: rule.explain(line, match), line };
    }
  }
  return undefined;
}

/** The last line that looks like an error (Python exception, ERROR log line), for unknown failures. */
export function lastErrorLine(lines: readonly string[]): string | undefined {
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i] ?? "";
    if (/^\s*(\(.*\)\s*)?ERROR\b|^[A-Za-z_.]*(Error|Exception)\b.*:/.test(line)) return line.trim();
  }
  return undefined;
}
