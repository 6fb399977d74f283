// Builds a JavaScript skill with componentize-js; `chitin skill build` runs it as
// `node --input-type=module -e <this file>` with the paths in the environment:
//   CHITIN_COMPONENTIZE      componentize-js' src/componentize.js (in the toolchain folder)
//   CHITIN_SOURCE            the skill's entry module (skill.js)
//   CHITIN_WIT, CHITIN_WORLD the WIT folder and the world to build
//   CHITIN_DISABLE_FEATURES  comma-separated engine features to leave out (e.g. http)
//   CHITIN_OUT               where to write the component
import { writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';

const env = (name) => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};

const { componentize } = await import(pathToFileURL(env('CHITIN_COMPONENTIZE')).href);
const disableFeatures = env('CHITIN_DISABLE_FEATURES').split(',').filter(Boolean);
const { component } = await componentize({
  sourcePath: env('CHITIN_SOURCE'),
  witPath: env('CHITIN_WIT'),
  worldName: env('CHITIN_WORLD'),
  disableFeatures,
});
await writeFile(env('CHITIN_OUT'), component);
