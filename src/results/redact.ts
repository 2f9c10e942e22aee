// Secrets never reach a run file: in the config tree written to report.json, a key that names a
// credential (api_key, hf_token, client_secret, password, …) is written as REDACTED when set
// (null/empty stay as they are), and the password of a URL with credentials
// (http://user:pass@host) is masked. redactSecrets returns a copy: the config the run uses is
// never changed. Only the config is redacted: measurements (avg_time_to_first_token, …) are
// never touched.

export const REDACTED = '<redacted>';

/** Words of a key: snake_case, kebab-case, dotted and camelCase split, lower-cased. */
function keyWords(key: string): string[] {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase().split(/[^a-z0-9]+/).filter(Boolean);
}

/** Words before "token" that name a role in the text, not a credential. */
const TOKEN_ROLES = new Set(['bos', 'eos', 'pad', 'unk', 'sep', 'cls', 'mask', 'special', 'start', 'end', 'stop', 'first', 'last', 'next', 'output', 'input', 'per']);

const ALWAYS_SECRET = new Set(['secret', 'secrets', 'password', 'passwd', 'passphrase', 'apikey', 'credential', 'credentials', 'authorization']);

/** True when `key` names a credential (api_key, apiKey, hf_token, client_secret, db-password, …). */
export function isSecretKey(key: string): boolean {
  const words = keyWords(key);
  if (words.some((w) => ALWAYS_SECRET.has(w))) return true;
  if (words.some((w, i) => w === 'api' && (words[i + 1] === 'key' || words[i + 1] === 'keys'))) return true;
  // A token is a credential when it is what the key names (hf_token, access_token), not a
  // count or a setting about tokens (max_new_tokens, tokenizer, eos_token, first_token).
  return words.at(-1) === 'token' && !TOKEN_ROLES.has(words.at(-2) ?? '');
}

const URL_PASSWORD = /^([a-z][a-z0-9+.-]*:\/\/[^/?#@:\s]*:)([^/?#@\s]+)@/i;

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);

/** A copy of `value` (plain objects and arrays, as a parsed or validated config is) with credentials redacted. */
export function redactSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (isPlainObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) =>
      [k, v !== null && v !== undefined && v !== '' && isSecretKey(k) ? REDACTED : redactSecrets(v)]));
  }
  if (typeof value === 'string' && URL_PASSWORD.test(value)) return value.replace(URL_PASSWORD, `$1${REDACTED}@`);
  return value;
}
