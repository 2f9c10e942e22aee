// Endpoint handling, health/model discovery, API keys, the request body as the server sees it,
// and the continuous_usage_stats fallback — all over real HTTP to the emulator.

import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createOpenAIBackend, normalizeEndpoint, type OpenAIBackend } from '../../src/backends/openai/index.js';
import { buildRequestBody } from '../../src/backends/openai/request-body.js';
import { buildStream, startOpenAIEmulator, type OpenAIEmulator } from '../helpers/openai-emulator.js';

const settings = { maxNewTokens: 8, minNewTokens: 0, temperature: 0 };
const okStream = () => ({ steps: buildStream({ tokens: ['ok'] }).steps });

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0)) await f();
});
async function emulator(opts: Parameters<typeof startOpenAIEmulator>[0]): Promise<OpenAIEmulator> {
  const e = await startOpenAIEmulator(opts);
  cleanup.push(() => e.close());
  return e;
}
function backendFor(opts: Parameters<typeof createOpenAIBackend>[0]): OpenAIBackend {
  const b = createOpenAIBackend(opts);
  cleanup.push(() => b.close());
  return b;
}

describe('normalizeEndpoint', () => {
  it('keeps ports and paths intact (the old rstrip("/v1") turned :8001 into :800)', () => {
    expect(normalizeEndpoint('http://localhost:8001')).toEqual({ root: 'http://localhost:8001', apiBase: 'http://localhost:8001/v1' });
    expect(normalizeEndpoint('http://localhost:8001/v1')).toEqual({ root: 'http://localhost:8001', apiBase: 'http://localhost:8001/v1' });
    expect(normalizeEndpoint('http://localhost:8001/v1/').apiBase).toBe('http://localhost:8001/v1');
    expect(normalizeEndpoint('http://h:8000/v1v1').apiBase).toBe('http://h:8000/v1v1/v1');
    expect(normalizeEndpoint('https://gw.example/team/llm/v1').root).toBe('https://gw.example/team/llm');
    expect(normalizeEndpoint('http://h:1/1/v1').root).toBe('http://h:1/1');
    expect(normalizeEndpoint('localhost:8000').apiBase).toBe('http://localhost:8000/v1');
    expect(normalizeEndpoint('http://[::1]:8001/v1').root).toBe('http://[::1]:8001');
    expect(normalizeEndpoint('http://h:8001/v1/chat/completions').apiBase).toBe('http://h:8001/v1');
    expect(normalizeEndpoint('http://h:8001/v1/completions/').apiBase).toBe('http://h:8001/v1');
    expect(normalizeEndpoint('http://h:8001/chat/completions').apiBase).toBe('http://h:8001/chat/completions/v1');
  });
  it('rejects what it cannot use, naming the problem', () => {
    expect(() => normalizeEndpoint('')).toThrow(/non-empty URL/);
    expect(() => normalizeEndpoint('ftp://h/v1')).toThrow(/http:\/\/ or https:\/\//);
    expect(() => normalizeEndpoint('http://h:99999')).toThrow(/not a valid URL/);
    expect(() => normalizeEndpoint('http://h/v1?x=1')).toThrow(/query string/);
    expect(() => normalizeEndpoint('http://u:p@h/v1')).toThrow(/credentials/);
  });
});

describe('buildRequestBody', () => {
  it('puts reasoning params where servers read them and maps generation settings', () => {
    const body = buildRequestBody(
      {
        index: 0,
        text: 'ignored when messages exist',
        messages: [
          { role: 'system', content: '/no_think' },
          { role: 'user', content: 'hi' },
        ],
      },
      {
        maxNewTokens: 10,
        minNewTokens: 10,
        temperature: 0.7,
        topP: 0.9,
        seed: 42,
        ignoreEos: true,
        reasoning: { enabled: true, params: { enable_thinking: true, thinking_budget: 512, reasoning_effort: 'high' } },
      },
      { api: 'chat', model: 'm', continuousUsage: true, extraBody: { chat_template_kwargs: { custom: 1 }, priority: 2 } },
    );
    expect(body).toEqual({
      model: 'm',
      messages: [
        { role: 'system', content: '/no_think' },
        { role: 'user', content: 'hi' },
      ],
      stream: true,
      stream_options: { include_usage: true, continuous_usage_stats: true },
      max_tokens: 10,
      min_tokens: 10,
      temperature: 0.7,
      top_p: 0.9,
      seed: 42,
      ignore_eos: true,
      reasoning_effort: 'high',
      chat_template_kwargs: { enable_thinking: true, thinking_budget: 512, custom: 1 },
      priority: 2,
    });
  });
  it('completions API sends the prompt (or its token ids); reasoning parameters, which it cannot carry, are refused', () => {
    const withReasoning = { ...settings, reasoning: { enabled: false, params: { enable_thinking: false } } };
    expect(() => buildRequestBody({ index: 0, text: 'p' }, withReasoning, { api: 'completions', model: 'm', continuousUsage: false })).toThrow(
      /reasoning parameters \(enable_thinking\) cannot be sent with the completions API/,
    );
    const s = { ...settings, reasoning: { enabled: false, params: {} } };
    const a = buildRequestBody({ index: 0, text: 'p' }, s, { api: 'completions', model: 'm', continuousUsage: false });
    expect(a['prompt']).toBe('p');
    expect(a['chat_template_kwargs']).toBeUndefined();
    expect(a['stream_options']).toEqual({ include_usage: true });
    expect(a['min_tokens']).toBeUndefined();
    const b = buildRequestBody({ index: 0, text: 'p', promptIds: [1, 2] }, s, { api: 'completions', model: 'm', continuousUsage: true });
    expect(b['prompt']).toEqual([1, 2]);
  });
});

describe('open(): health, models, API key', () => {
  it('discovers the model, reports details, and falls back to /v1/models when /health is missing', async () => {
    const e = await emulator({ respond: okStream, healthStatus: 404, models: [{ id: 'only/model', max_model_len: 1234 }] });
    const b = backendFor({ endpoint: `${e.url}/v1` });
    const d = await b.open();
    expect(d.model).toBe('only/model');
    expect(d.details).toMatchObject({ servedModels: ['only/model'], maxModelLen: 1234, health: 'GET /v1/models (GET /health answered 404)' });
  });

  it('rejects a model the server does not serve, listing the served ones', async () => {
    const e = await emulator({ respond: okStream, models: [{ id: 'a' }, { id: 'b' }] });
    const b = backendFor({ endpoint: e.url, model: 'c' });
    await expect(b.open()).rejects.toThrow(`model "c" is not served by ${e.url}/v1; served models: a, b`);
  });

  it('fails clearly when nothing listens', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const b = backendFor({ endpoint: `http://127.0.0.1:${port}/v1` });
    await expect(b.open()).rejects.toThrow(`cannot reach the server at http://127.0.0.1:${port}`);
    await expect(b.open()).rejects.toThrow(/connection refused/);
  });

  it('sends the API key from the option or AEB_API_KEY/OPENAI_API_KEY, and explains a 401', async () => {
    const e = await emulator({ respond: okStream, apiKey: 'sekret' });
    await expect(backendFor({ endpoint: e.url, apiKey: 'wrong' }).open()).rejects.toThrow(/needs an API key/);
    const b = backendFor({ endpoint: e.url, apiKey: 'sekret' });
    await b.open();
    const rec = await b.generate({ index: 0, text: 'k' }, settings);
    expect(rec.success).toBe(true);
    expect(e.log[0]!.headers['authorization']).toBe('Bearer sekret');
    const saved = { aeb: process.env['AEB_API_KEY'], oai: process.env['OPENAI_API_KEY'] };
    try {
      delete process.env['AEB_API_KEY'];
      process.env['OPENAI_API_KEY'] = 'sekret';
      await backendFor({ endpoint: e.url }).open();
      process.env['AEB_API_KEY'] = 'wrong';
      await expect(backendFor({ endpoint: e.url }).open()).rejects.toThrow(/401/);
    } finally {
      for (const [k, v] of [['AEB_API_KEY', saved.aeb], ['OPENAI_API_KEY', saved.oai]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('refuses generate() before open() and rejects bad options', async () => {
    const e = await emulator({ respond: okStream });
    await expect(backendFor({ endpoint: e.url }).generate({ index: 0, text: 'x' }, settings)).rejects.toThrow(/call open\(\)/);
    expect(() => createOpenAIBackend({ endpoint: e.url, maxSockets: 0 })).toThrow(/maxSockets/);
    expect(() => createOpenAIBackend({ endpoint: e.url, api: 'responses' as never })).toThrow(/api must be/);
  });
});

describe('request delivery', () => {
  it('the server receives messages, settings and reasoning params in the fields it reads', async () => {
    const e = await emulator({ respond: okStream });
    const b = backendFor({ endpoint: e.url });
    await b.open();
    await b.generate(
      { index: 0, text: 'hello', messages: [{ role: 'system', content: 'Reasoning: low' }, { role: 'user', content: 'hello' }] },
      { maxNewTokens: 5, minNewTokens: 5, temperature: 0, seed: 1, reasoning: { enabled: false, params: { enable_thinking: false } } },
    );
    const body = e.log[0]!.body!;
    expect(body['messages']).toEqual([{ role: 'system', content: 'Reasoning: low' }, { role: 'user', content: 'hello' }]);
    expect(body['chat_template_kwargs']).toEqual({ enable_thinking: false });
    expect(body).toMatchObject({ max_tokens: 5, min_tokens: 5, seed: 1, stream: true, model: 'emulated-model' });
    expect(e.log[0]!.path).toBe('/v1/chat/completions');
  });

  it('completions API goes to /v1/completions', async () => {
    const e = await emulator({ respond: () => ({ steps: buildStream({ api: 'completions', tokens: ['x', 'y'] }).steps }) });
    const b = backendFor({ endpoint: e.url, api: 'completions' });
    await b.open();
    const rec = await b.generate({ index: 0, text: 'p' }, settings);
    expect(rec.success).toBe(true);
    expect(rec.text).toBe('xy');
    expect(e.log[0]!.path).toBe('/v1/completions');
  });

  it('drops continuous_usage_stats for good when a server rejects it with a 400 naming it', async () => {
    const e = await emulator({
      respond: (req) => {
        const so = req.body?.['stream_options'] as Record<string, unknown> | undefined;
        if (so?.['continuous_usage_stats'] !== undefined) {
          return {
            status: 400,
            headers: { 'content-type': 'application/json' },
            steps: [{ write: JSON.stringify({ error: { message: "Unrecognized request argument supplied: stream_options.continuous_usage_stats" } }) }],
          };
        }
        return { steps: buildStream({ tokens: ['a', 'b', 'c'], continuousUsage: false }).steps };
      },
    });
    const b = backendFor({ endpoint: e.url });
    await b.open();
    const first = await b.generate({ index: 0, text: 'one' }, settings);
    expect(first.success).toBe(true);
    expect(first.text).toBe('abc');
    expect(first.completionTokens).toBe(3);
    expect(first.warnings.join(' ')).toMatch(/rejected continuous_usage_stats/);
    expect(e.log.length).toBe(2);
    // the measured request is the second one: its start is after the rejected attempt ended
    expect(first.startNs > e.log[0]!.arrivedNs).toBe(true);
    // concurrent first requests that all hit the 400 each retry once and succeed
    const b2 = backendFor({ endpoint: e.url });
    await b2.open();
    const burst = await Promise.all(Array.from({ length: 8 }, (_, i) => b2.generate({ index: i, text: `burst${i}` }, settings)));
    expect(burst.every((r) => r.success && r.text === 'abc')).toBe(true);
    const second = await b.generate({ index: 1, text: 'two' }, settings);
    expect(second.success).toBe(true);
    const last = e.log[e.log.length - 1]!;
    expect(last.key).toBe('two');
    expect(e.log.filter((l) => l.key === 'two').length).toBe(1);
    expect(last.body!['stream_options']).toEqual({ include_usage: true });
  });
});
