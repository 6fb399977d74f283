// {{name}}: a chitin skill in JavaScript. `chitin skill build` compiles it with
// componentize-js; `npm test` tests its tools under Node. Guide:
// skills-sdk/guides/javascript.md in the chitin repository.

import { Tools, fs, invalidInput } from './chitin.js';

function hello({ name }) {
  if (typeof name !== 'string') throw invalidInput('`name` must be a string, like {"name": "Ada"}');
  if (!name.trim()) throw invalidInput('`name` is empty');
  return `Hello, ${name.trim()}!`;
}

function lineCount({ path }) {
  // `$WORKSPACE` is mounted at /workspace; relative paths are taken from there.
  const text = fs.readText(path);
  return text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
}

export const tools = new Tools()
  .tool('hello', 'Greet someone by name',
    { type: 'object', properties: { name: { type: 'string', description: 'Who to greet' } }, required: ['name'] },
    hello)
  .tool('line_count', 'Count the lines of a file in the workspace',
    { type: 'object', properties: { path: { type: 'string', description: 'A file in the workspace, e.g. notes.md' } }, required: ['path'] },
    lineCount);

export const guest = tools.guest();
