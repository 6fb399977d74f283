// Native tests: `npm test` runs them under Node, with chitin-node.mjs standing in for
// the host's interfaces. `chitin run` runs the built skill in the real host.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tools } from './skill.js';

test('hello greets and refuses empty names', async () => {
  assert.equal(await tools.invoke('hello', '{"name":"Ada"}'), '"Hello, Ada!"');
  await assert.rejects(tools.invoke('hello', '{"name":" "}'), { kind: 'invalid-input' });
  await assert.rejects(tools.invoke('hello', '{"name":5}'), { kind: 'invalid-input', message: /must be a string/ });
});
