// A harmony (gpt-oss) chat template for checkpoints that ship without one (e.g. tokenizer
// bundles). It follows the published harmony layout: a system message carrying
// "Reasoning: <effort>", the caller's system/developer text as developer instructions, then
// the turns; the generation prompt opens an assistant message. No date line, so prompts
// are reproducible.

const lines = [
  "{%- set ns = namespace(instructions='') -%}",
  '{%- for m in messages -%}',
  "{%- if m.role == 'system' or m.role == 'developer' -%}",
  "{%- if ns.instructions -%}{%- set ns.instructions = ns.instructions + '\\n\\n' -%}{%- endif -%}",
  '{%- set ns.instructions = ns.instructions + m.content -%}',
  '{%- endif -%}',
  '{%- endfor -%}',
  "{{- '<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\\nKnowledge cutoff: 2024-06\\n\\nReasoning: ' -}}",
  "{{- (reasoning_effort if reasoning_effort is defined else 'medium') -}}",
  "{{- '\\n\\n# Valid channels: analysis, commentary, final. Channel must be included for every message.<|end|>' -}}",
  "{%- if ns.instructions -%}{{- '<|start|>developer<|message|># Instructions\\n\\n' + ns.instructions + '<|end|>' -}}{%- endif -%}",
  '{%- for m in messages -%}',
  "{%- if m.role == 'user' -%}{{- '<|start|>user<|message|>' + m.content + '<|end|>' -}}",
  "{%- elif m.role == 'assistant' -%}{{- '<|start|>assistant<|channel|>final<|message|>' + m.content + '<|end|>' -}}",
  '{%- endif -%}',
  '{%- endfor -%}',
  "{%- if add_generation_prompt -%}{{- '<|start|>assistant' -}}{%- endif -%}",
];

export const HARMONY_CHAT_TEMPLATE = lines.join('\n');
