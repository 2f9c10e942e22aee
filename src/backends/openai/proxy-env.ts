// The client connects to the endpoint directly: a proxy in the path would add its own latency
// (and buffering) to every measured request. When the environment names a proxy that would
// otherwise apply to the endpoint, the user is told, once per run, instead of silently.

/** First non-empty value of the names (curl's convention: lower case first). */
function envValue(env: NodeJS.ProcessEnv, names: readonly string[]): string | undefined {
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value.trim() !== '') return value.trim();
  }
  return undefined;
}

/** NO_PROXY covers `host`: `*`, the host itself, or a domain suffix (`.example.com`, `example.com`); a `:port` on an entry is ignored. */
function noProxyCovers(noProxy: string, host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return noProxy
    .split(/[\s,]+/)
    .map((e) => e.trim().toLowerCase())
    .filter((e) => e !== '')
    .some((entry) => {
      if (entry === '*') return true;
      const name = entry.startsWith('[') ? entry.slice(1, entry.indexOf(']')) : entry.replace(/:\d+$/, '');
      const domain = name.replace(/^\*?\./, '');
      return h === domain || h.endsWith(`.${domain}`);
    });
}

/** The warning for `url` when a proxy variable would apply to it (and NO_PROXY does not exclude it); else null. */
export function proxyNotUsedWarning(url: URL, env: NodeJS.ProcessEnv = process.env): string | null {
  const names = url.protocol === 'https:' ? ['https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY'] : ['http_proxy', 'HTTP_PROXY', 'all_proxy', 'ALL_PROXY'];
  const proxy = envValue(env, names);
  if (proxy === undefined) return null;
  const noProxy = envValue(env, ['no_proxy', 'NO_PROXY']);
  if (noProxy !== undefined && noProxyCovers(noProxy, url.hostname)) return null;
  const which = names.find((n) => env[n]?.trim() === proxy)!;
  return (
    `${which} is set, but requests to ${url.host} go directly to the server, not through the proxy ` +
    `(a proxy would add its own latency to every measured request); add ${url.hostname} to NO_PROXY to silence this`
  );
}
