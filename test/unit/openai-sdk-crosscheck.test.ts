// Cross-check with the official `openai` package: both clients stream the same emulator
// responses and must agree on content, reasoning and usage.

import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpenAIBackend, type OpenAIBackend } from '../../src/backends/openai/index.js';
import { buildStream, startScenarioEmulator, type EmulatorScript, type OpenAIEmulator, type StreamSpec } from '../helpers/openai-emulator.js';

const tokens = ['The', ' quick', ' brown', ' fox', ' — ', 'é', '世界', '🎉'];
const specs: Record<string, StreamSpec> = {
  plain: { tokens },
  reasoning: { tokens, reasoning: ['Think', 'ing', '…'] },
  'multi-token chunks': { tokens, tokensPerChunk: 3 },
  pings: { tokens, pings: true },
  CRLF: { tokens, lineEnding: '\r\n' },
  'bare CR': { tokens, lineEnding: '\r' },
  'data without space': { tokens, dataSpace: false },
  'multi-line data': { tokens, multiLineData: true },
  'byte fragments': { tokens: ['é', '世', '🎉'], fragmentBytes: 1 },
  'no continuous usage': { tokens, continuousUsage: false },
};

let emu: OpenAIEmulator;
let backend: OpenAIBackend;
let sdk: OpenAI;

beforeAll(async () => {
  const scenarios: Record<string, EmulatorScript> = {};
  for (const [k, s] of Object.entries(specs)) scenarios[k] = { steps: buildStream(s).steps };
  emu = await startScenarioEmulator(scenarios);
  backend = createOpenAIBackend({ endpoint: emu.url, apiKey: 'k' });
  await backend.open();
  sdk = new OpenAI({ baseURL: `${emu.url}/v1`, apiKey: 'k', maxRetries: 0 });
});
afterAll(async () => {
  await backend?.close();
  await emu?.close();
});

describe('agreement with the openai package', () => {
  for (const name of Object.keys(specs)) {
    it(`${name}: same content, reasoning and usage`, async () => {
      const stream = await sdk.chat.completions.create({
        model: 'emulated-model',
        messages: [{ role: 'user', content: name }],
        stream: true,
        stream_options: { include_usage: true },
      });
      let content = '';
      let reasoning = '';
      let usage: OpenAI.CompletionUsage | null | undefined;
      for await (const chunk of stream) {
        for (const c of chunk.choices) {
          content += c.delta.content ?? '';
          reasoning += (c.delta as { reasoning_content?: string }).reasoning_content ?? '';
        }
        if (chunk.usage) usage = chunk.usage;
      }
      const rec = await backend.generate({ index: 0, text: name }, { maxNewTokens: 32, minNewTokens: 0, temperature: 0 });
      expect(rec.success).toBe(true);
      expect(content.length).toBeGreaterThan(0);
      expect(rec.text).toBe(content);
      expect(rec.reasoningText ?? '').toBe(reasoning);
      expect(rec.completionTokens).toBe(usage?.completion_tokens);
      expect(rec.promptTokens).toBe(usage?.prompt_tokens);
    });
  }
});
