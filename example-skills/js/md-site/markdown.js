// A small Markdown to HTML converter: headings, paragraphs, emphasis, inline code,
// fenced code blocks, block quotes, ordered and unordered lists, links, images and
// horizontal rules. No raw HTML passes through: everything is escaped.

const escape = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A link target: relative `.md` links become `.html`; `javascript:` and the like are dropped. */
function href(url) {
  const u = url.trim();
  if (/^[a-z][a-z0-9+.-]*:/i.test(u) && !/^(https?|mailto):/i.test(u)) return '#';
  return u.replace(/\.md(#|$)/, '.html$1');
}

/** Inline markup of one run of text. */
export function inline(text) {
  const codes = [];
  // Code spans first, so nothing inside them is interpreted.
  let s = text.replace(/`([^`]+)`/g, (_, c) => `\u0000${codes.push(`<code>${escape(c)}</code>`) - 1}\u0000`);
  s = escape(s);
  s = s.replace(/!\[([^\]]*)\]\(([^)\s]+)\)/g, (_, alt, src) => `<img src="${escape(href(src))}" alt="${alt}">`);
  s = s.replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (_, label, url) => `<a href="${escape(href(url))}">${label}</a>`);
  s = s.replace(/\*\*([^*]+)\*\*|__([^_]+)__/g, (_, a, b) => `<strong>${a ?? b}</strong>`);
  s = s.replace(/\*([^*]+)\*|\b_([^_]+)_\b/g, (_, a, b) => `<em>${a ?? b}</em>`);
  return s.replace(/\u0000(\d+)\u0000/g, (_, i) => codes[Number(i)]);
}

/** Markdown text to an HTML fragment. */
export function render(markdown) {
  const lines = markdown.replace(/\r\n?/g, '\n').split('\n');
  const out = [];
  let i = 0;
  const isBlank = (l) => l.trim() === '';
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if (isBlank(line)) {
      i++;
    } else if ((m = line.match(/^```\s*([\w-]*)/))) {
      const body = [];
      for (i++; i < lines.length && !lines[i].startsWith('```'); i++) body.push(lines[i]);
      i++;
      const cls = m[1] ? ` class="language-${escape(m[1])}"` : '';
      out.push(`<pre><code${cls}>${escape(body.join('\n'))}</code></pre>`);
    } else if ((m = line.match(/^(#{1,6})\s+(.*?)\s*#*\s*$/))) {
      const level = m[1].length;
      const id = m[2].toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
      out.push(`<h${level} id="${id}">${inline(m[2])}</h${level}>`);
      i++;
    } else if (/^(\*\s*\*\s*\*|-\s*-\s*-|_\s*_\s*_)[\s*_-]*$/.test(line)) {
      out.push('<hr>');
      i++;
    } else if (line.startsWith('>')) {
      const body = [];
      for (; i < lines.length && lines[i].startsWith('>'); i++) body.push(lines[i].replace(/^>\s?/, ''));
      out.push(`<blockquote>${render(body.join('\n'))}</blockquote>`);
    } else if ((m = line.match(/^\s*([-*+]|\d+[.)])\s+/))) {
      const ordered = /\d/.test(m[1]);
      const items = [];
      for (; i < lines.length && (m = lines[i].match(/^\s*([-*+]|\d+[.)])\s+(.*)$/)); i++) items.push(m[2]);
      const tag = ordered ? 'ol' : 'ul';
      out.push(`<${tag}>${items.map((t) => `<li>${inline(t)}</li>`).join('')}</${tag}>`);
    } else {
      const para = [];
      for (; i < lines.length && !isBlank(lines[i]) && !/^(#{1,6}\s|```|>|\s*([-*+]|\d+[.)])\s)/.test(lines[i]); i++) {
        para.push(lines[i].trim());
      }
      out.push(`<p>${inline(para.join(' '))}</p>`);
    }
  }
  return out.join('\n');
}

/** The first heading of a page, or `fallback`. */
export function title(markdown, fallback) {
  const m = markdown.match(/^#\s+(.*)$/m);
  return m ? m[1].trim() : fallback;
}

/** A whole HTML page. */
export function page(pageTitle, body) {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escape(pageTitle)}</title>
<style>body{max-width:46rem;margin:2rem auto;padding:0 1rem;font:16px/1.5 system-ui,sans-serif}pre{background:#f4f4f4;padding:.75rem;overflow:auto}code{font-size:.95em}</style>
</head>
<body>
${body}
</body>
</html>
`;
}
