/**
 * Renders the webhook body templates of deploy/argocd/argocd-notifications-cm.yaml the way Argo
 * CD's notifications controller does (Go text/template with sprig), for the subset those templates
 * use: `{{ <pipeline> }}` where a pipeline is `.path`, `pick <obj> "k"...`, `default <fallback>
 * <value>`, `dict`, parenthesised sub-expressions, and `| toJson`. Anything else throws, so a
 * template change the test cannot render fails loudly instead of being mis-rendered.
 */
type Vars = Record<string, unknown>;

function tokenize(expr: string): string[] {
  const tokens: string[] = [];
  const re = /\s*(\(|\)|\||"(?:[^"\\]|\\.)*"|[^\s()|]+)/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(expr)) !== null) tokens.push(m[1] ?? '');
  if (tokens.join('').replace(/\s/g, '') !== expr.replace(/\s/g, '')) throw new Error(`cannot tokenize {{${expr}}}`);
  return tokens;
}

function lookup(vars: Vars, path: string): unknown {
  let v: unknown = vars;
  for (const part of path.split('.').slice(1)) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

// Go's json.Marshal escapes <, > and & (sprig toJson uses it); map keys are sorted.
function goJson(v: unknown): string {
  const sorted = (x: unknown): unknown =>
    Array.isArray(x) ? x.map(sorted) : x !== null && typeof x === 'object' ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, sorted((x as Record<string, unknown>)[k])])) : x;
  return (JSON.stringify(sorted(v ?? null)) ?? 'null').replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
}

function evalTokens(tokens: string[], vars: Vars): unknown {
  let pos = 0;
  const operand = (): unknown => {
    const t = tokens[pos++];
    if (t === undefined) throw new Error('unexpected end of template expression');
    if (t === '(') {
      const v = command();
      if (tokens[pos++] !== ')') throw new Error('missing )');
      return v;
    }
    if (t.startsWith('"')) return JSON.parse(t) as string;
    if (t.startsWith('.')) return lookup(vars, t);
    if (t === 'dict') return {};
    throw new Error(`unsupported template function or token "${t}"`);
  };
  const command = (): unknown => {
    const t = tokens[pos];
    if (t === 'pick') {
      pos++;
      const obj = operand();
      const keys: string[] = [];
      while (tokens[pos]?.startsWith('"')) keys.push(operand() as string);
      const src = obj !== null && typeof obj === 'object' ? (obj as Record<string, unknown>) : {};
      return Object.fromEntries(keys.filter((k) => k in src).map((k) => [k, src[k]]));
    }
    if (t === 'default') {
      pos++;
      const fallback = operand();
      const value = operand();
      const empty = value === undefined || value === null || value === '' || (typeof value === 'object' && Object.keys(value).length === 0);
      return empty ? fallback : value;
    }
    return operand();
  };
  let value = command();
  while (tokens[pos] === '|') {
    pos++;
    const fn = tokens[pos++];
    if (fn !== 'toJson') throw new Error(`unsupported pipe function "${fn ?? ''}"`);
    value = goJson(value);
  }
  if (pos !== tokens.length) throw new Error(`unexpected "${tokens[pos] ?? ''}"`);
  return value;
}

export function renderArgoCdTemplate(template: string, vars: Vars): string {
  return template.replace(/\{\{-?\s*(.*?)\s*-?\}\}/gs, (_m, expr: string) => {
    const v = evalTokens(tokenize(expr), vars);
    return typeof v === 'string' ? v : goJson(v);
  });
}
