/**
 * Renders chat messages with the model's own Jinja chat template (the one embedded in the GGUF),
 * as Hugging Face's tokenizer would. Models without a template get a plain ChatML rendering.
 */
import { Template } from "@huggingface/jinja";
import { InvalidRequestError } from "../core/errors.js";
import type { ChatMessage, EngineInfo } from "../engines/engine.js";

const compiled = new Map<string, Template>();

function compile(source: string): Template {
  let template = compiled.get(source);
  if (template === undefined) {
    template = new Template(source);
    compiled.set(source, template);
  }
  return template;
}

export interface RenderChatOptions {
  /** Extra template variables (e.g. `enable_thinking`). */
  variables?: Readonly<Record<string, unknown>>;
}

export function renderChatTemplate(
  info: Pick<EngineInfo, "chatTemplate" | "bosToken" | "eosToken">,
  messages: readonly ChatMessage[],
  options: RenderChatOptions = {},
): string {
  if (info.chatTemplate === undefined) return renderChatMl(messages);
  try {
    return compile(info.chatTemplate).render({
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
      add_generation_prompt: true,
      bos_token: info.bosToken ?? "",
      eos_token: info.eosToken ?? "",
      ...options.variables,
    });
  } catch (err) {
    throw new InvalidRequestError(
      `the model's chat template could not render these messages: ${err instanceof Error ? err.message : String(err)}`,
      { param: "messages", cause: err },
    );
  }
}

function renderChatMl(messages: readonly ChatMessage[]): string {
  let out = "";
  for (const m of messages) out += `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`;
  return `${out}<|im_start|>assistant\n`;
}
