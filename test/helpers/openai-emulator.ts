// Scripted OpenAI-compatible streaming server for tests (real HTTP on 127.0.0.1, port 0).
// The server and the script builders live in src/ (calibrateClient and the SSE benchmark use
// them too); this helper adds scenario routing by request key (the last user message).

import {
  startOpenAIEmulator,
  type EmulatorOptions,
  type EmulatorScript,
  type OpenAIEmulator,
} from '../../src/backends/openai/emulator.js';

export * from '../../src/backends/openai/emulator.js';
export * from '../../src/backends/openai/emulator-script.js';

/**
 * Emulator answering each streaming request with the script registered under its key
 * (the request's last message / prompt). Unknown keys get a 404 JSON error.
 */
export async function startScenarioEmulator(
  scenarios: Record<string, EmulatorScript>,
  opts: Omit<EmulatorOptions, 'respond'> = {},
): Promise<OpenAIEmulator> {
  return startOpenAIEmulator({
    ...opts,
    respond: (req) =>
      scenarios[req.key] ?? {
        status: 404,
        headers: { 'content-type': 'application/json' },
        steps: [{ write: JSON.stringify({ error: { message: `no scenario for key ${JSON.stringify(req.key)}` } }) }],
      },
  });
}
