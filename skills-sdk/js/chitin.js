// chitin.js — write chitin skills in JavaScript (componentize-js).
//
// A skill module registers its tools and exports them as the component's
// `chitin:skill/guest` interface:
//
//   import { Tools, fs } from './chitin.js';
//
//   const tools = new Tools()
//     .tool('count', 'Count the lines of a file in the workspace',
//       { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] },
//       ({ path }) => fs.readText(path).split('\n').length);
//
//   export const guest = tools.guest();
//
// `chitin skill build` supplies this file when the project has none; a copy in the
// project (as `chitin skill new` writes it) takes precedence. Guide:
// skills-sdk/guides/javascript.md.
//
// What a skill can use, and only as far as its manifest declares and the user granted:
// files (`fs` below, through the granted folders), HTTP (`request` from
// chitin-http.js, or `fetch`; every request is checked by the host), programs
// (`import { run } from 'chitin:skill/exec@0.1.0'`), environment variables (`env`),
// logging (`log`). Each call runs in a fresh instance.

import { getDirectories } from 'wasi:filesystem/preopens@0.2.12';
import { getEnvironment } from 'wasi:cli/environment@0.2.12';
import { log as hostLog } from 'chitin:skill/log@0.1.0';

/** Why a tool failed: `invalid-input`, `denied` or `failed`, passed to the model as a value. */
export class ToolError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

/** The arguments are unusable. */
export const invalidInput = (message) => new ToolError('invalid-input', message);
/** The host refused a capability the tool needed. */
export const denied = (message) => new ToolError('denied', message);
/** Anything else. */
export const failed = (message) => new ToolError('failed', message);

const TOOL_NAME = /^[a-z0-9_-]{1,64}$/;

/** The tools of a skill: register them with `tool()`, export them with `guest()`. */
export class Tools {
  constructor() {
    this.tools = new Map();
  }

  /**
   * Register a tool. `inputSchema` is the JSON Schema (an object) of its arguments;
   * `fn(args)` gets the parsed arguments and returns any JSON-serializable value (or a
   * promise of one), or throws a `ToolError`.
   */
  tool(name, description, inputSchema, fn) {
    if (!TOOL_NAME.test(name)) {
      throw new Error(`tool name ${JSON.stringify(name)}: use 1-64 lowercase letters, digits, '_' or '-'`);
    }
    if (this.tools.has(name)) throw new Error(`tool ${name} is registered twice`);
    this.tools.set(name, { description, inputSchema, fn });
    return this;
  }

  /** The tools as the host sees them. */
  describe() {
    return [...this.tools].map(([name, t]) => ({
      name,
      description: t.description,
      inputSchema: JSON.stringify(t.inputSchema),
    }));
  }

  /**
   * Run a tool: the JSON text of its result, or a thrown `ToolError`. Arguments that are
   * not a JSON object, or miss a property the schema requires, are `invalid-input`.
   */
  async invoke(name, argsJson) {
    const tool = this.tools.get(name);
    if (!tool) {
      throw invalidInput(`unknown tool ${JSON.stringify(name)}; this skill has: ${[...this.tools.keys()].join(', ')}`);
    }
    let args;
    try {
      args = JSON.parse(argsJson);
    } catch (e) {
      throw invalidInput(`the arguments are not JSON: ${e.message}`);
    }
    if (args === null || typeof args !== 'object' || Array.isArray(args)) {
      throw invalidInput('the arguments must be a JSON object');
    }
    for (const key of tool.inputSchema.required ?? []) {
      if (!(key in args)) throw invalidInput(`missing field \`${key}\``);
    }
    const result = await tool.fn(args);
    return JSON.stringify(result === undefined ? null : result);
  }

  /** The object to export as `guest`: `export const guest = tools.guest();` */
  guest() {
    return {
      describe: () => this.describe(),
      invoke: async (name, argsJson) => {
        try {
          return await this.invoke(name, argsJson);
        } catch (e) {
          throw toWitError(e);
        }
      },
    };
  }
}

/** Any thrown value as the WIT `error` variant. */
export function toWitError(e) {
  if (e instanceof ToolError) return { tag: e.kind, val: e.message };
  // An error value of an import (e.g. exec's `denied`), passed on as it is.
  const payload = e?.payload;
  if (payload && typeof payload === 'object' && typeof payload.tag === 'string') {
    return { tag: payload.tag, val: String(payload.val) };
  }
  if (e && typeof e === 'object' && ['invalid-input', 'denied', 'failed'].includes(e.tag)) return e;
  return { tag: 'failed', val: e instanceof Error ? e.message : String(e) };
}

// ------------------------------------------------------------------ files

/** Where `$WORKSPACE` is mounted. */
export const WORKSPACE = '/workspace';
/** Where `$HOME` is mounted. */
export const HOME = '/home';

let preopens;
function granted() {
  preopens ??= getDirectories();
  return preopens;
}

/** The folders granted to this call, as the skill sees them, e.g. `['/workspace']`. */
export function grantedFolders() {
  return granted().map(([, mount]) => mount);
}

/** A path given by the model: relative paths are taken from the workspace. */
export function resolve(path) {
  return path.startsWith('/') ? path : `${WORKSPACE}/${path}`;
}

// wasi:filesystem error codes that mean "the sandbox said no".
const DENIALS = new Set(['access', 'not-permitted', 'read-only']);
const MESSAGES = {
  'no-entry': 'No such file or directory',
  exist: 'File exists',
  'is-directory': 'Is a directory',
  'not-directory': 'Not a directory',
  'not-empty': 'Directory not empty',
  access: 'Permission denied',
  'not-permitted': 'Operation not permitted',
  'read-only': 'Read-only file system',
  loop: 'Too many levels of symbolic links',
};

function fsError(e, what) {
  const code = typeof e?.payload === 'string' ? e.payload : null;
  if (!code) return e instanceof ToolError ? e : failed(`${what}: ${e?.message ?? e}`);
  const text = MESSAGES[code] ?? code;
  return new ToolError(DENIALS.has(code) ? 'denied' : 'failed', `${what}: ${text}`);
}

/**
 * The preopened folder holding `path` and the path relative to it. `..` is left in
 * place: the host resolves it beneath the folder and refuses what leads outside.
 */
function locate(path, what) {
  const abs = resolve(path);
  let best = null;
  for (const [fd, mount] of granted()) {
    const inside = abs === mount || abs.startsWith(mount.endsWith('/') ? mount : `${mount}/`);
    if (inside && (!best || mount.length > best[1].length)) best = [fd, mount];
  }
  if (!best) throw denied(`${what}: \`${abs}\` is outside the granted folders (${grantedFolders().join(', ') || 'none'})`);
  const rel = abs.slice(best[1].length).replace(/^\/+/, '') || '.';
  return [best[0], rel];
}

function open(path, what, openFlags, flags) {
  const [dir, rel] = locate(path, what);
  try {
    return dir.openAt({ symlinkFollow: true }, rel, openFlags, flags);
  } catch (e) {
    throw fsError(e, what);
  }
}

function release(resource) {
  resource?.[Symbol.dispose]?.();
}

/** The bytes of a file (a `Uint8Array`). */
export function readBytes(path) {
  const what = `read ${path}`;
  const file = open(path, what, {}, { read: true });
  try {
    const chunks = [];
    let offset = 0n;
    for (;;) {
      const [bytes, end] = file.read(65536n, offset);
      chunks.push(bytes);
      offset += BigInt(bytes.length);
      if (end || bytes.length === 0) break;
    }
    const out = new Uint8Array(Number(offset));
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  } catch (e) {
    throw fsError(e, what);
  } finally {
    release(file);
  }
}

/** A file as UTF-8 text (invalid sequences replaced). */
export function readText(path) {
  return new TextDecoder().decode(readBytes(path));
}

/** Create or truncate a file and write `data` (a string or bytes). */
export function writeFile(path, data) {
  const what = `write ${path}`;
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const file = open(path, what, { create: true, truncate: true }, { write: true });
  try {
    let offset = 0;
    while (offset < bytes.length) {
      const n = file.write(bytes.subarray(offset, offset + 65536), BigInt(offset));
      offset += Number(n);
    }
    return bytes.length;
  } catch (e) {
    throw fsError(e, what);
  } finally {
    release(file);
  }
}

/** The names in a folder, sorted. */
export function listDir(path) {
  const what = `list ${path}`;
  const dir = open(path, what, { directory: true }, { read: true });
  try {
    const stream = dir.readDirectory();
    const names = [];
    for (let entry; (entry = stream.readDirectoryEntry()); ) names.push(entry.name);
    release(stream);
    return names.sort();
  } catch (e) {
    throw fsError(e, what);
  } finally {
    release(dir);
  }
}

/** Create a folder (its parent must exist); nothing happens when it exists already. */
export function mkdir(path) {
  const what = `create folder ${path}`;
  const [dir, rel] = locate(path, what);
  try {
    dir.createDirectoryAt(rel);
  } catch (e) {
    if (e?.payload !== 'exist') throw fsError(e, what);
  }
}

/** `{ kind: 'file' | 'dir' | 'other', size, symlink }`, following symlinks. */
export function stat(path) {
  const what = `stat ${path}`;
  const [dir, rel] = locate(path, what);
  try {
    const link = dir.statAt({}, rel);
    const meta = dir.statAt({ symlinkFollow: true }, rel);
    const kind = meta.type === 'directory' ? 'dir' : meta.type === 'regular-file' ? 'file' : 'other';
    return { kind, size: Number(meta.size), symlink: link.type === 'symbolic-link' };
  } catch (e) {
    throw fsError(e, what);
  }
}

/** Whether `path` exists (false also when it is outside the granted folders). */
export function exists(path) {
  try {
    stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The file functions as one object: `fs.readText(path)`. */
export const fs = { readBytes, readText, writeFile, listDir, mkdir, stat, exists, resolve, grantedFolders };

// ------------------------------------------------------------------ environment

/** One environment variable (only declared ones are visible), or `null`. */
export function env(name) {
  const hit = getEnvironment().find(([k]) => k === name);
  return hit ? hit[1] : null;
}

/** Every visible environment variable as an object. */
export function envAll() {
  return Object.fromEntries(getEnvironment());
}

// ------------------------------------------------------------------ logging

/** Lines recorded by the host with the skill's name: `log.info('...')`. */
export const log = Object.fromEntries(
  ['trace', 'debug', 'info', 'warn', 'error'].map((level) => [level, (message) => hostLog(level, String(message))]),
);

// ------------------------------------------------------------------ programs

/**
 * The output of `run` (from `chitin:skill/exec@0.1.0`) with stdout and stderr as text:
 * `{ status, stdout, stderr, truncated }`.
 */
export function outputText(output) {
  const text = (b) => new TextDecoder().decode(b);
  return { status: output.status ?? null, stdout: text(output.stdout), stderr: text(output.stderr), truncated: output.truncated };
}
