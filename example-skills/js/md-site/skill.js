// md-site: turn the Markdown pages of the workspace's docs/ folder into an HTML site in
// site/. It may read docs/ and write site/, nothing else (see skill.toml).

import { Tools, fs, invalidInput, log } from './chitin.js';
import { page, render, title } from './markdown.js';

const DOCS = '/workspace/docs';
const SITE = '/workspace/site';

/** Every .md file under docs/, as paths relative to it. */
function pages(dir = DOCS, prefix = '') {
  const found = [];
  for (const name of fs.listDir(dir)) {
    const path = `${dir}/${name}`;
    if (fs.stat(path).kind === 'dir') found.push(...pages(path, `${prefix}${name}/`));
    else if (name.endsWith('.md')) found.push(`${prefix}${name}`);
  }
  return found;
}

function checkPage(path) {
  if (typeof path !== 'string' || !path.endsWith('.md') || path.split('/').includes('..') || path.startsWith('/')) {
    throw invalidInput('`page` is a .md file inside docs/, e.g. "guide/intro.md"');
  }
  return path;
}

function buildSite() {
  const list = pages();
  const written = [];
  const index = [];
  for (const rel of list) {
    const markdown = fs.readText(`${DOCS}/${rel}`);
    const heading = title(markdown, rel);
    const html = rel.replace(/\.md$/, '.html');
    // Folders of the site mirror docs/; site/ itself was granted, so create them.
    const parts = html.split('/').slice(0, -1);
    for (let k = 1; k <= parts.length; k++) fs.mkdir(`${SITE}/${parts.slice(0, k).join('/')}`);
    fs.writeFile(`${SITE}/${html}`, page(heading, render(markdown)));
    written.push(html);
    index.push(`<li><a href="${html}">${heading.replace(/</g, '&lt;')}</a></li>`);
  }
  if (!list.some((p) => p === 'index.md')) {
    fs.writeFile(`${SITE}/index.html`, page('Index', `<h1>Index</h1>\n<ul>${index.join('')}</ul>`));
    written.push('index.html');
  }
  log.info(`wrote ${written.length} pages`);
  return { pages: written.length, written };
}

const tools = new Tools()
  .tool('list_pages', 'List the Markdown pages in docs/', { type: 'object', properties: {} }, () => pages())
  .tool('render_page', 'Render one page of docs/ to HTML and return it (nothing is written)',
    { type: 'object', properties: { page: { type: 'string', description: 'A .md file inside docs/, e.g. "intro.md"' } }, required: ['page'] },
    ({ page: p }) => render(fs.readText(`${DOCS}/${checkPage(p)}`)))
  .tool('build_site', 'Render every page of docs/ into site/ as HTML, with an index', { type: 'object', properties: {} }, buildSite);

export const guest = tools.guest();
