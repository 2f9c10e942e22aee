import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  loadChatTemplate,
  renderChatTemplate,
  selectChatTemplate,
  templateSpecialTokens,
  type ChatTemplate,
} from '../../src/text/chat-template.js';
import { readTokenizerConfig } from '../../src/text/tokenizer.js';
import { QWEN3_DIR } from '../fixtures/text/paths.js';

describe('Qwen3 chat template (real tokenizer_config.json)', () => {
  let template: ChatTemplate;
  beforeAll(async () => {
    const config = await readTokenizerConfig(QWEN3_DIR);
    template = (await loadChatTemplate(QWEN3_DIR, config))!;
  });
  const messages = [{ role: 'user' as const, content: 'Why is the sky blue?' }];

  it('renders the generation prompt, and enable_thinking=false adds exactly the empty think block', () => {
    const on = renderChatTemplate(template, messages, { kwargs: { enable_thinking: true } });
    const off = renderChatTemplate(template, messages, { kwargs: { enable_thinking: false } });
    const unset = renderChatTemplate(template, messages);
    expect(on).toBe('<|im_start|>user\nWhy is the sky blue?<|im_end|>\n<|im_start|>assistant\n');
    expect(unset).toBe(on);
    expect(off).toBe(`${on}<think>\n\n</think>\n\n`);
  });

  it('honours add_generation_prompt=false and system messages', () => {
    const text = renderChatTemplate(template, [{ role: 'system', content: 'Be brief.' }, ...messages], { addGenerationPrompt: false });
    expect(text).toBe('<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhy is the sky blue?<|im_end|>\n');
  });
});

describe('template discovery and errors', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'aeb-tpl-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('picks a named template from the list form (default unless asked)', () => {
    const list = [
      { name: 'default', template: 'D{{ messages[0].content }}' },
      { name: 'tool_use', template: 'T{{ messages[0].content }}' },
    ];
    const msgs = [{ role: 'user' as const, content: 'x' }];
    expect(renderChatTemplate(selectChatTemplate(list, 'cfg')!, msgs)).toBe('Dx');
    expect(renderChatTemplate(selectChatTemplate(list, 'cfg', 'tool_use')!, msgs)).toBe('Tx');
    expect(() => selectChatTemplate(list, 'cfg', 'rag')).toThrow(/no chat template named "rag" \(available: default, tool_use\)/);
    expect(() => selectChatTemplate(42, 'cfg')).toThrow(/must be a string or a list/);
  });

  it('falls back to chat_template.jinja and exposes bos/eos variables', async () => {
    await writeFile(join(dir, 'chat_template.jinja'), '{{ bos_token }}{{ messages[0].content }}{{ eos_token }}{% if add_generation_prompt %}>{% endif %}');
    const config = { bos_token: '<s>', eos_token: { content: '</s>' } };
    const tpl = (await loadChatTemplate(dir, config))!;
    expect(tpl.origin).toBe(join(dir, 'chat_template.jinja'));
    expect(renderChatTemplate(tpl, [{ role: 'user', content: 'hi' }], templateSpecialTokens(config))).toBe('<s>hi</s>>');
  });

  it('returns undefined for a model without a template', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'aeb-tpl-none-'));
    expect(await loadChatTemplate(empty, {})).toBeUndefined();
    await rm(empty, { recursive: true });
  });

  it('reports template errors with their origin', () => {
    const broken: ChatTemplate = { name: 'default', source: '{% if %}', origin: 'broken.jinja' };
    expect(() => renderChatTemplate(broken, [{ role: 'user', content: 'x' }])).toThrow(/broken.jinja/);
    const raising: ChatTemplate = { name: 'default', source: "{{ raise_exception('roles must alternate') }}", origin: 'r.jinja' };
    expect(() => renderChatTemplate(raising, [{ role: 'user', content: 'x' }])).toThrow(/roles must alternate/);
    expect(() => renderChatTemplate(raising, [])).toThrow(/non-empty array/);
  });

  it('the Qwen3 template file is the one the package ships', async () => {
    const raw = JSON.parse(await readFile(join(QWEN3_DIR, 'tokenizer_config.json'), 'utf8')) as { chat_template: string };
    expect(raw.chat_template).toContain('enable_thinking is defined and enable_thinking is false');
  });
});
