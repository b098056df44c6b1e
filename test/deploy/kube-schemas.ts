import { parseAllDocuments } from 'yaml';

/**
 * Validates Kubernetes objects against the Kubernetes OpenAPI schemas, offline (issue #7), the way
 * `kubectl apply --validate=strict` would: wrong types, missing required fields, values outside an
 * enum and unknown fields all fail, each named by object and field path.
 *
 * The schemas come from the kubernetes-models packages: `kubernetes-models` for the built-in API
 * groups, `@kubernetes-models/prometheus-operator` and `@kubernetes-models/flux-cd` for the custom
 * resources meshdrift ships. Their validators are ajv code compiled from the OpenAPI schemas, but
 * without `additionalProperties: false`, so on their own they accept unknown fields (a typo such as
 * `imagePullPolcy` would pass). Strictness is added here without a second copy of the schemas: the
 * object is validated through a Proxy that records which properties the compiled validator reads.
 * A compiled validator reads every property its schema declares (to check it if present), and
 * enumerates the keys of a map (labels, data); so a key of an object whose properties were read, in
 * an object that was not enumerated, is a field the schema does not know. An object the validator
 * never looks into is free-form in the schema (e.g. x-kubernetes-preserve-unknown-fields) and is
 * accepted whole, as the API server would.
 */

/** Packages holding the models of custom resources, by API group. */
const CRD_PACKAGES: Record<string, string> = {
  'monitoring.coreos.com': '@kubernetes-models/prometheus-operator',
  'notification.toolkit.fluxcd.io': '@kubernetes-models/flux-cd',
  'kustomize.toolkit.fluxcd.io': '@kubernetes-models/flux-cd',
  'helm.toolkit.fluxcd.io': '@kubernetes-models/flux-cd',
  'source.toolkit.fluxcd.io': '@kubernetes-models/flux-cd',
  'cert-manager.io': '@kubernetes-models/cert-manager',
};

/**
 * The module of one kind's model (one file per kind, so only the schemas in use are loaded);
 * undefined when no installed package has that API group.
 */
export function modelModule(apiVersion: string, kind: string): string | undefined {
  const slash = apiVersion.indexOf('/');
  const group = slash < 0 ? '' : apiVersion.slice(0, slash);
  if (slash < 0 && apiVersion !== 'v1') return undefined;
  // Built-in groups are the core group, dotless ones (apps, batch, policy) or *.k8s.io.
  const pkg = CRD_PACKAGES[group] ?? (!group.includes('.') || group.endsWith('.k8s.io') ? 'kubernetes-models' : undefined);
  return pkg === undefined ? undefined : `${pkg}/${apiVersion}/${kind}`;
}

interface ModelClass {
  apiVersion: string;
  kind: string;
  prototype: { validate(this: unknown): void };
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function isModelClass(v: unknown): v is ModelClass {
  if (typeof v !== 'function') return false;
  const c = v as unknown as Record<string, unknown>;
  const proto = c['prototype'];
  return typeof c['apiVersion'] === 'string' && typeof c['kind'] === 'string' && isRecord(proto) && typeof proto['validate'] === 'function';
}

const modules = new Map<string, Promise<Record<string, unknown> | undefined>>();

/** The model class of apiVersion/kind, or a sentence saying why there is none. */
async function modelFor(apiVersion: string, kind: string): Promise<ModelClass | string> {
  if (!/^[A-Z][A-Za-z0-9]*$/.test(kind)) return `kind "${kind}" is not a Kubernetes kind name`;
  const spec = modelModule(apiVersion, kind);
  if (spec === undefined) return `no schema for apiVersion ${apiVersion} (known: core and built-in groups, ${Object.keys(CRD_PACKAGES).join(', ')})`;
  let loading = modules.get(spec);
  if (!loading) {
    loading = import(spec).then(
      (m: unknown) => (isRecord(m) ? m : undefined),
      () => undefined,
    );
    modules.set(spec, loading);
  }
  const mod = await loading;
  if (mod === undefined) return `no schema for kind ${kind} in ${apiVersion} (no module ${spec})`;
  const model = mod[kind];
  if (!isModelClass(model) || model.kind !== kind || model.apiVersion !== apiVersion) return `no schema for kind ${kind} in ${apiVersion}`;
  return model;
}

/** What the validator did with one object or array node of the data. */
interface NodeUse {
  value: object;
  read: Set<string>;
  enumerated: boolean;
}

/** Wraps data so that every property read and key enumeration is recorded, per JSON pointer. */
function recordingProxy(root: unknown, uses: Map<string, NodeUse>): unknown {
  const proxies = new Map<string, object>();
  const wrap = (value: unknown, pointer: string): unknown => {
    if (value === null || typeof value !== 'object') return value;
    const cached = proxies.get(pointer);
    if (cached) return cached;
    const use: NodeUse = { value, read: new Set(), enumerated: false };
    uses.set(pointer, use);
    const proxy = new Proxy(value, {
      get(target, key, receiver) {
        if (typeof key !== 'string') return Reflect.get(target, key, receiver);
        use.read.add(key);
        if (!Object.hasOwn(target, key)) return Reflect.get(target, key, receiver);
        return wrap((target as Record<string, unknown>)[key], `${pointer}/${escapePointer(key)}`);
      },
      has(target, key) {
        if (typeof key === 'string') use.read.add(key);
        return Reflect.has(target, key);
      },
      ownKeys(target) {
        use.enumerated = true;
        return Reflect.ownKeys(target);
      },
    });
    proxies.set(pointer, proxy);
    return proxy;
  };
  return wrap(root, '');
}

const escapePointer = (key: string): string => key.replace(/~/g, '~0').replace(/\//g, '~1');
const unescapePointer = (token: string): string => token.replace(/~1/g, '/').replace(/~0/g, '~');

/** A JSON pointer into `data` as kubectl prints field paths: spec.containers[0].image. */
export function fieldPath(data: unknown, pointer: string): string {
  let out = '';
  let node: unknown = data;
  for (const token of pointer.split('/').slice(1).map(unescapePointer)) {
    if (Array.isArray(node)) {
      out += `[${token}]`;
      node = node[Number(token)];
    } else {
      out += out === '' ? token : `.${token}`;
      node = isRecord(node) ? node[token] : undefined;
    }
  }
  return out;
}

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

function ajvErrors(err: unknown): AjvError[] {
  const list = isRecord(err) ? err['errors'] : undefined;
  if (!Array.isArray(list)) throw err; // not a validation error: a bug in the model, not in the manifest
  return list.filter((e): e is AjvError => isRecord(e) && typeof e['instancePath'] === 'string' && typeof e['keyword'] === 'string');
}

/** One ajv error as `path: message`. */
function describeError(data: unknown, e: AjvError): string {
  const path = fieldPath(data, e.instancePath);
  const join = (child: string): string => (path === '' ? child : `${path}.${child}`);
  if (e.keyword === 'required' && typeof e.params['missingProperty'] === 'string') return `${join(e.params['missingProperty'])}: required field is missing`;
  const allowed = e.params['allowedValues'];
  const values = e.keyword === 'enum' && Array.isArray(allowed) ? ` (${allowed.map((v) => JSON.stringify(v)).join(', ')})` : '';
  return `${path === '' ? '(object)' : path}: ${e.message ?? e.keyword}${values}`;
}

/** How an object is named in messages: Kind namespace/name (apiVersion). */
export function describeObject(obj: unknown): string {
  if (!isRecord(obj)) return 'document';
  const meta = isRecord(obj['metadata']) ? obj['metadata'] : {};
  const name = typeof meta['name'] === 'string' ? meta['name'] : '<no name>';
  const ns = typeof meta['namespace'] === 'string' ? `${meta['namespace']}/` : '';
  return `${String(obj['kind'] ?? '<no kind>')} ${ns}${name} (${String(obj['apiVersion'] ?? '<no apiVersion>')})`;
}

/**
 * Validates one object: returns its problems as `field.path: what is wrong` (empty when valid).
 * Checks what the schema says, plus what every API object needs (apiVersion, kind, metadata.name).
 */
export async function validateObject(obj: unknown): Promise<string[]> {
  if (!isRecord(obj)) return ['(object): must be a mapping'];
  const { apiVersion, kind } = obj;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') return ['apiVersion and kind: required fields are missing'];
  const model = await modelFor(apiVersion, kind);
  if (typeof model === 'string') return [model];
  const problems: string[] = [];
  const meta = obj['metadata'];
  if (!isRecord(meta) || (typeof meta['name'] !== 'string' && typeof meta['generateName'] !== 'string'))
    problems.push('metadata.name: required field is missing');

  const uses = new Map<string, NodeUse>();
  try {
    model.prototype.validate.call(recordingProxy(obj, uses));
  } catch (err) {
    for (const e of ajvErrors(err)) problems.push(describeError(obj, e));
  }
  for (const [pointer, use] of uses) {
    if (Array.isArray(use.value) || use.enumerated || use.read.size === 0) continue;
    for (const key of Object.keys(use.value)) {
      if (!use.read.has(key)) problems.push(`${fieldPath(obj, `${pointer}/${escapePointer(key)}`)}: unknown field "${key}"`);
    }
  }
  return [...new Set(problems)];
}

export interface ManifestResult {
  /** Objects in the text, in order, as `Kind namespace/name (apiVersion)`. */
  objects: string[];
  /** Every problem, as `<source> <object>: <field.path>: <message>`. */
  errors: string[];
}

/**
 * Validates every document of a multi-document YAML text. Duplicate keys are errors (strict
 * decoding, as `kubectl --validate=strict`), and so is a text without any object.
 */
export async function validateManifestText(text: string, source: string): Promise<ManifestResult> {
  const result: ManifestResult = { objects: [], errors: [] };
  for (const doc of parseAllDocuments(text, { uniqueKeys: true })) {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) result.errors.push(`${source}: YAML: ${e.message.split('\n')[0]}`);
      continue;
    }
    const obj: unknown = doc.toJS();
    if (obj === null || obj === undefined) continue;
    const name = describeObject(obj);
    result.objects.push(name);
    for (const problem of await validateObject(obj)) result.errors.push(`${source} ${name}: ${problem}`);
  }
  if (result.objects.length === 0 && result.errors.length === 0) result.errors.push(`${source}: no Kubernetes object in it`);
  return result;
}
