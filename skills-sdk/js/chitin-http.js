// chitin-http.js — a small blocking HTTP client over `wasi:http` for chitin skills in
// JavaScript. Import it only in skills that declare `http` in skill.toml (it imports
// `wasi:http`, which chitin refuses in a skill that declares none):
//
//   import { request } from './chitin-http.js';
//   const r = request('https://api.github.com/repos/rust-lang/rust');
//   const repo = r.raiseForStatus().json();
//
// Unlike `fetch` (which also works), a refusal by the host comes back as a `denied`
// ToolError naming the URL, not as a generic network error. Every request, each
// redirect included (at most 5), is checked by the host against the declared
// patterns; secrets are added by the host, do not set those headers yourself. On a
// redirect to another origin, `authorization` and `cookie` headers are dropped.

import { handle } from 'wasi:http/outgoing-handler@0.2.12';
import { Fields, IncomingBody, OutgoingBody, OutgoingRequest } from 'wasi:http/types@0.2.12';
import { ToolError, denied, failed, invalidInput } from './chitin.js';

/** Largest response body read, in bytes. */
export const MAX_BODY = 16 << 20;
/** Most redirects followed for one request. */
export const MAX_REDIRECTS = 5;

const METHODS = ['get', 'head', 'post', 'put', 'delete', 'connect', 'options', 'trace', 'patch'];

/**
 * Send a request and read the whole response: `{ status, headers, body, url, text(),
 * json(), raiseForStatus() }`, `headers` an object of lowercase names (repeated fields
 * joined with ", "), `body` a `Uint8Array`, `url` the URL that answered.
 */
export function request(url, { method = 'GET', headers = {}, body, followRedirects = true } = {}) {
  let bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body ?? new Uint8Array();
  let list = Object.entries(headers);
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const answer = send(method.toUpperCase(), url, list, bytes);
    const location = answer.headers.location;
    if (!followRedirects || ![301, 302, 303, 307, 308].includes(answer.status) || !location) return answer;
    const next = new URL(location, url);
    if (next.origin !== new URL(url).origin) {
      list = list.filter(([name]) => !['authorization', 'cookie'].includes(name.toLowerCase()));
    }
    if (answer.status === 303 || ([301, 302].includes(answer.status) && method.toUpperCase() === 'POST')) {
      method = 'GET';
      bytes = new Uint8Array();
    }
    url = next.href;
  }
  throw failed(`too many redirects (more than ${MAX_REDIRECTS}), last to ${url}`);
}

/** `request(url)`. */
export const get = (url, options) => request(url, { ...options, method: 'GET' });

function send(method, url, headers, body) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    throw invalidInput(`invalid URL ${JSON.stringify(url)}`);
  }
  if (!['http:', 'https:'].includes(parsed.protocol)) throw invalidInput(`invalid URL ${url}: only http and https`);
  if (parsed.username || parsed.password) throw invalidInput(`invalid URL ${url}: credentials in URLs are not supported`);
  const entries = headers.map(([n, v]) => [n.toLowerCase(), new TextEncoder().encode(String(v))]);
  if ((body.length || ['POST', 'PUT', 'PATCH'].includes(method)) && !entries.some(([n]) => n === 'content-length')) {
    entries.push(['content-length', new TextEncoder().encode(String(body.length))]);
  }
  let fields;
  try {
    fields = Fields.fromList(entries);
  } catch (e) {
    throw invalidInput(`invalid header: ${e?.payload?.tag ?? e}`);
  }
  const req = new OutgoingRequest(fields);
  const lower = method.toLowerCase();
  req.setMethod(METHODS.includes(lower) ? { tag: lower } : { tag: 'other', val: method });
  req.setScheme({ tag: parsed.protocol === 'https:' ? 'HTTPS' : 'HTTP' });
  req.setAuthority(parsed.host);
  req.setPathWithQuery(parsed.pathname + parsed.search);
  const outgoing = req.body();
  let future;
  try {
    future = handle(req, undefined);
  } catch (e) {
    throw httpError(e.payload ?? e, url);
  }
  let writeError = null;
  try {
    if (body.length) {
      const stream = outgoing.write();
      for (let i = 0; i < body.length; i += 4096) stream.blockingWriteAndFlush(body.subarray(i, i + 4096));
      stream[Symbol.dispose]?.();
    }
    OutgoingBody.finish(outgoing, undefined);
  } catch (e) {
    // The answer below says why (e.g. a refused request).
    writeError = e;
  }
  let answer;
  while ((answer = future.get()) === undefined) {
    const pollable = future.subscribe();
    pollable.block();
    pollable[Symbol.dispose]?.();
  }
  future[Symbol.dispose]?.();
  if (answer.tag === 'err') throw failed(`request to ${url} failed: no response`);
  if (answer.val.tag === 'err') throw httpError(answer.val.val, url);
  if (writeError) throw failed(`sending the request body to ${url} failed`);
  const response = answer.val.val;
  const status = response.status();
  const responseHeaders = {};
  const fieldsIn = response.headers();
  for (const [name, value] of fieldsIn.entries()) {
    const text = new TextDecoder().decode(value);
    const key = name.toLowerCase();
    responseHeaders[key] = key in responseHeaders ? `${responseHeaders[key]}, ${text}` : text;
  }
  fieldsIn[Symbol.dispose]?.();
  const incoming = response.consume();
  const stream = incoming.stream();
  const chunks = [];
  let size = 0;
  for (;;) {
    let chunk;
    try {
      chunk = stream.blockingRead(65536n);
    } catch (e) {
      if ((e?.payload ?? e)?.tag === 'closed') break;
      throw failed(`reading the response from ${url} failed`);
    }
    size += chunk.length;
    if (size > MAX_BODY) throw failed(`the response from ${url} is larger than ${MAX_BODY >> 20} MiB`);
    chunks.push(chunk);
  }
  stream[Symbol.dispose]?.();
  IncomingBody.finish(incoming)[Symbol.dispose]?.();
  response[Symbol.dispose]?.();
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  return {
    status,
    headers: responseHeaders,
    body: bytes,
    url,
    text: () => new TextDecoder().decode(bytes),
    json() {
      try {
        return JSON.parse(this.text());
      } catch (e) {
        throw failed(`the response from ${url} is not JSON: ${e.message}`);
      }
    },
    raiseForStatus() {
      if (status >= 200 && status < 300) return this;
      throw failed(`${url} answered HTTP ${status}: ${this.text().slice(0, 500).trim()}`);
    },
  };
}

function httpError(code, url) {
  const tag = code?.tag ?? String(code);
  if (tag === 'HTTP-request-denied') {
    return denied(`the host refused the request to ${url}: it is not covered by this skill's grants`);
  }
  if (tag === 'DNS-error' || tag === 'destination-not-found') return failed(`cannot resolve the host of ${url}`);
  if (tag === 'connection-refused') return failed(`${url}: connection refused`);
  if (code instanceof ToolError) return code;
  return failed(`request to ${url} failed: ${tag}${code?.val ? ` (${JSON.stringify(code.val)})` : ''}`);
}
