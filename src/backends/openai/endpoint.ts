// Endpoint normalisation. The old tool did rstrip("/v1") and turned ":8001" into ":800";
// here only a whole trailing "/v1" path segment is removed, and the URL parser owns the port.

export interface NormalizedEndpoint {
  /** Server root without the API version, no trailing slash: http://host:8001[/prefix] */
  root: string;
  /** OpenAI API base: `${root}/v1` */
  apiBase: string;
}

export function normalizeEndpoint(endpoint: string): NormalizedEndpoint {
  if (typeof endpoint !== 'string' || endpoint.trim() === '') {
    throw new TypeError('endpoint must be a non-empty URL such as http://localhost:8000/v1');
  }
  let raw = endpoint.trim();
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) raw = `http://${raw}`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TypeError(`endpoint "${endpoint}" is not a valid URL (expected e.g. http://localhost:8000/v1)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`endpoint "${endpoint}" must use http:// or https:// (got ${url.protocol})`);
  }
  if (url.search !== '' || url.hash !== '') {
    throw new TypeError(`endpoint "${endpoint}" must not carry a query string or fragment`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new TypeError(`endpoint "${endpoint}" must not embed credentials; use the apiKey option or AEB_API_KEY`);
  }
  const segments = url.pathname.split('/').filter((s) => s.length > 0);
  // A full route pasted as the endpoint (…/v1/chat/completions, …/v1/completions) means its /v1.
  if (segments.slice(-3).join('/') === 'v1/chat/completions') segments.splice(-2);
  else if (segments.slice(-2).join('/') === 'v1/completions') segments.splice(-1);
  if (segments.length > 0 && segments[segments.length - 1] === 'v1') segments.pop();
  const path = segments.length > 0 ? `/${segments.join('/')}` : '';
  const root = `${url.protocol}//${url.host}${path}`;
  return { root, apiBase: `${root}/v1` };
}
