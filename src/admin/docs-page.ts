/** GET /api/docs: a self-contained page (no CDN) that lists the operations of /api/openapi.json. */
export const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Lyss admin API</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 960px; padding: 0 1rem; color: #222; }
  h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; }
  details { margin: .4rem 0; border: 1px solid #e3e3e3; border-radius: 6px; padding: .4rem .8rem; }
  summary { cursor: pointer; }
  .m { display: inline-block; width: 4.5rem; font-weight: 600; text-transform: uppercase; font-family: ui-monospace, monospace; }
  code, pre { font-family: ui-monospace, monospace; font-size: 13px; }
  pre { background: #f6f6f6; padding: .6rem; overflow: auto; border-radius: 4px; }
  .roles { color: #666; font-size: 13px; }
</style>
</head>
<body>
<h1>Lyss admin API</h1>
<p id="intro">Loading <a href="openapi.json">openapi.json</a>…</p>
<div id="ops"></div>
<script>
(async () => {
  const doc = await (await fetch('openapi.json')).json();
  document.getElementById('intro').textContent = doc.info.description;
  const byTag = new Map();
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const tag = (op.tags && op.tags[0]) || 'Other';
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push({ path, method, op });
    }
  }
  const root = document.getElementById('ops');
  const el = (name, text) => { const e = document.createElement(name); if (text !== undefined) e.textContent = text; return e; };
  for (const [tag, ops] of byTag) {
    root.append(el('h2', tag));
    for (const { path, method, op } of ops) {
      const d = el('details');
      const s = el('summary');
      s.append(el('span', method), ' ', el('code', path), ' — ', op.summary || '');
      s.firstChild.className = 'm';
      d.append(s);
      if (op.description) d.append(el('p', op.description));
      if (op.parameters && op.parameters.length) {
        d.append(el('strong', 'Parameters'));
        d.append(el('pre', op.parameters.map((p) => p.in + ' ' + p.name + (p.required ? ' (required)' : '') + ': ' + JSON.stringify(p.schema)).join('\\n')));
      }
      if (op.requestBody) {
        d.append(el('strong', 'Request body'));
        d.append(el('pre', JSON.stringify(op.requestBody.content['application/json'].schema, null, 2)));
      }
      for (const [status, r] of Object.entries(op.responses)) {
        const schema = r.content && r.content['application/json'] && r.content['application/json'].schema;
        if (!schema || schema.$ref) continue;
        d.append(el('strong', 'Response ' + status));
        d.append(el('pre', JSON.stringify(schema, null, 2)));
      }
      root.append(d);
    }
  }
})().catch((err) => { document.getElementById('intro').textContent = 'Could not load openapi.json: ' + err; });
</script>
</body>
</html>
`;
