// The probe in JavaScript: the same tools as the Rust probe (tests/skills/probe), for
// the capability matrix (tests/capability_matrix.rs) and the benchmark. I/O errors come
// back as tool errors (`denied` when the sandbox refused, `failed` otherwise); `spin`,
// `alloc` and `flood_stdout` misbehave on purpose.

import { run } from 'chitin:skill/exec@0.1.0';
import { getStdout } from 'wasi:cli/stdout@0.2.12';
import { Tools, env, envAll, failed, fs, invalidInput, outputText } from './chitin.js';
import { request } from './chitin-http.js';

const object = (properties = {}, required = Object.keys(properties)) => ({ type: 'object', properties, required });
const str = { type: 'string' };
const int = { type: 'integer', minimum: 0 };

function readLoop({ path, times }) {
  const seen = [];
  let last = null;
  for (let i = 0; i < times; i++) {
    try {
      const text = fs.readText(path);
      if (!seen.includes(text)) seen.push(text);
    } catch (e) {
      last = e;
    }
  }
  if (seen.length === 0 && last) throw last;
  return seen;
}

function floodStdout({ bytes }) {
  const stdout = getStdout();
  const chunk = new Uint8Array(4096).fill(65);
  let written = 0;
  try {
    while (written < bytes) {
      const n = Math.min(chunk.length, bytes - written);
      stdout.blockingWriteAndFlush(chunk.subarray(0, n));
      written += n;
    }
  } catch (e) {
    throw failed(`stdout after ${written} bytes: ${e?.payload?.tag ?? e}`);
  }
  return { written };
}

function alloc({ mib }) {
  // A memory bomb: past the limit the host refuses to grow memory and stops the call.
  const block = new Uint8Array(mib * 1024 * 1024);
  let checksum = 0;
  for (let i = 0; i < block.length; i += 4096) {
    block[i] = ((i >> 12) & 0xff) | 1;
    checksum += block[i];
  }
  return { mib, checksum };
}

const tools = new Tools()
  .tool('noop', 'Do nothing and return "ok"', object(), () => 'ok')
  .tool('echo', 'Return the text given', object({ text: str }), ({ text }) => text)
  .tool('read_file', 'Read a file as text', object({ path: str }), ({ path }) => fs.readText(path))
  .tool('write_file', 'Write a text file (created or truncated)', object({ path: str, content: str }),
    ({ path, content }) => ({ written: fs.writeFile(path, content) }))
  .tool('list_dir', 'List the names in a directory, sorted', object({ path: str }), ({ path }) => fs.listDir(path))
  .tool('stat', 'Describe a file or directory', object({ path: str }), ({ path }) => {
    const s = fs.stat(path);
    return { kind: s.kind, len: s.size, readonly: null, symlink: s.symlink }; // WASI has no permission bits;
  })
  .tool('http', 'Send an HTTP request (redirects followed)',
    object({ url: str, method: str, headers: { type: 'object' }, body: str }, ['url']),
    ({ url, method, headers, body }) => {
      const r = request(url, { method, headers, body });
      return { status: r.status, headers: r.headers, body: r.text(), url: r.url };
    })
  .tool('exec', 'Run a program through the host',
    object({ program: str, args: { type: 'array', items: str }, cwd: str }, ['program', 'args']),
    ({ program, args, cwd }) => outputText(run(program, args, cwd ?? undefined)))
  .tool('env', 'Read one environment variable (null when unset)', object({ name: str }), ({ name }) => env(name))
  .tool('env_all', 'All visible environment variables', object(), () => envAll())
  .tool('spin', 'Loop forever', object(), () => {
    for (;;) {}
  })
  .tool('alloc', 'Allocate and touch this many MiB', object({ mib: int }), alloc)
  .tool('flood_stdout', 'Print this many bytes to stdout', object({ bytes: int }), floodStdout)
  .tool('big_result', 'Return a string of this many bytes', object({ bytes: int }), ({ bytes }) => {
    if (!Number.isInteger(bytes)) throw invalidInput('bytes must be an integer');
    return 'x'.repeat(bytes);
  })
  .tool('read_loop', 'Read a file repeatedly; distinct contents seen', object({ path: str, times: int }), readLoop);

export const guest = tools.guest();
