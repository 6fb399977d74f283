// chitin-node.mjs — run a skill's modules under Node for native tests:
//
//   node --import ./chitin-node.mjs --test
//
// The interfaces the chitin host provides (`wasi:*`, `chitin:*` imports) do not exist in
// Node; this registers stand-ins for the ones chitin.js and most skills use: no granted
// folders, the process environment, log lines on stderr, and `exec` failing. Tools that
// only compute are tested as they run in the host; `chitin run` tests the rest there.
import { register } from 'node:module';

const STUBS = {
  'wasi:filesystem/preopens': 'export const getDirectories = () => [];',
  'wasi:cli/environment':
    'export const getEnvironment = () => Object.entries(process.env); export const getArguments = () => []; export const initialCwd = () => undefined;',
  'wasi:cli/stdout':
    'export const getStdout = () => ({ blockingWriteAndFlush: (b) => process.stdout.write(b), [Symbol.dispose]() {} });',
  'wasi:cli/stderr':
    'export const getStderr = () => ({ blockingWriteAndFlush: (b) => process.stderr.write(b), [Symbol.dispose]() {} });',
  'chitin:skill/log': 'export const log = (level, message) => console.error(`[${level}] ${message}`);',
  'chitin:skill/exec':
    "export const run = (program) => { throw { payload: { tag: 'failed', val: `cannot run \\`${program}\\`: exec is only available inside the chitin host` } }; };",
};

const hooks = `
const STUBS = ${JSON.stringify(STUBS)};
export async function resolve(specifier, context, next) {
  if (/^(wasi|chitin):/.test(specifier)) {
    const source = STUBS[specifier.split('@')[0]];
    if (source === undefined) throw new Error(specifier + ' has no stand-in in chitin-node.mjs; test this tool with chitin run');
    return { url: 'data:text/javascript,' + encodeURIComponent(source), shortCircuit: true };
  }
  return next(specifier, context);
}`;

register('data:text/javascript,' + encodeURIComponent(hooks));
