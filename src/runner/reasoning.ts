// Applies the per-model reasoning prompt format (src/formatters registry) to a run's prompts:
// chat messages carry system flags, the settings carry template kwargs / request fields.
import type { PromptInput, ReasoningSettings } from '../backends/types.js';
import { prepareReasoningPrompt, type PreparedPrompt } from '../formatters/prepare.js';

export interface FormattedPrompts {
  prompts: PromptInput[];
  reasoning: ReasoningSettings;
  /** Registry format, e.g. 'harmony', 'enable-thinking'. */
  format: string;
  /** e.g. "on (effort high)", "off (empty think block)". */
  label: string;
  assistantPrefix: string | null;
}

/** Reasoning parameters a backend receives: template kwargs plus top-level request fields. */
export function reasoningParams(p: PreparedPrompt): Record<string, unknown> {
  const { chat_template_kwargs: _kwargs, ...fields } = p.requestFields;
  return { ...p.templateKwargs, ...fields };
}

/**
 * `reasoning` is anything parseReasoningState accepts (true, 'Off', 'On (High)', …) or
 * a ReasoningSettings object; `params` are merged over it.
 */
export function formatReasoningPrompts(
  prompts: readonly PromptInput[],
  modelId: string,
  reasoning: unknown,
  params?: Record<string, unknown> | null,
  format?: string,
): FormattedPrompts {
  const prep = (text: string) =>
    prepareReasoningPrompt({ modelId, reasoning, prompt: text, ...(params ? { params } : {}), ...(format ? { format } : {}) });
  const probe = prep('');
  const out = prompts.map((p) => {
    // The assistant prefix (think-prefix formats) is not a message: backends derive it from
    // the reasoning settings (the native text pipeline appends it after the template).
    return { ...p, messages: prep(p.text).messages };
  });
  return {
    prompts: out,
    reasoning: { enabled: probe.enabled, params: reasoningParams(probe), ...(probe.thinkMarkers ? { thinkMarkers: probe.thinkMarkers } : {}) },
    format: probe.format,
    label: probe.label,
    assistantPrefix: probe.assistantPrefix ?? null,
  };
}

/** Formats whose settings reach the model only through a chat template. */
const TEMPLATE_ONLY_FREE: ReadonlySet<string> = new Set(['none', 'always-reasoning']);

/**
 * The formatted run as the OpenAI-compatible backend can send it: the server applies its own
 * chat template. The completions API has none, so a format that needs one is refused (the run
 * would carry a reasoning label nothing applied). A think-prefix model's "off" exists only as
 * an assistant prefix, and these servers' templates open `<think>` themselves (DeepSeek-R1's
 * drops assistant text up to `</think>`): the run is labelled as reasoning, not "off".
 */
export function adaptForHttp(f: FormattedPrompts, api: 'chat' | 'completions'): FormattedPrompts {
  if (api === 'completions' && (!TEMPLATE_ONLY_FREE.has(f.format) || Object.keys(f.reasoning.params).length > 0)) {
    throw new Error(
      `reasoning "${f.label}" (format ${f.format}) cannot be applied with backend.api completions: that API sends the raw ` +
        'prompt with no chat template to carry it; use backend.api chat, or leave the reasoning state unset',
    );
  }
  if (f.format === 'think-prefix' && !f.reasoning.enabled) {
    return { ...f, label: "on (cannot disable over HTTP: the server's chat template opens <think>)" };
  }
  return f;
}
