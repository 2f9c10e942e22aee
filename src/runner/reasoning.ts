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
    reasoning: { enabled: probe.enabled, params: reasoningParams(probe) },
    format: probe.format,
    label: probe.label,
    assistantPrefix: probe.assistantPrefix ?? null,
  };
}
