import { existsSync, readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

/**
 * Alertmanager's API v2 spec, as installed by Debian's golang-github-prometheus-alertmanager-dev
 * (.ci/install-packages): the package ships no openapi.yaml but the generated server embeds the
 * spec (api/v2/openapi.yaml as JSON) in restapi/embedded_spec.go; that text is read here, never
 * copied into the repository. Responses are checked against its definitions with Ajv (JSON
 * Schema: Swagger 2.0 definitions are JSON Schema draft 4 plus `format`s).
 */
export const ALERTMANAGER_SPEC_FILE = '/usr/share/gocode/src/github.com/prometheus/alertmanager/api/v2/restapi/embedded_spec.go';
export const HAVE_ALERTMANAGER_SPEC = existsSync(ALERTMANAGER_SPEC_FILE);

interface Spec {
  info: { version: string };
  definitions: Record<string, unknown>;
  paths: Record<string, Record<string, { responses: Record<string, { schema?: unknown }> }>>;
}

let loaded: { spec: Spec; ajv: Ajv } | undefined;

function load(): { spec: Spec; ajv: Ajv } {
  if (loaded) return loaded;
  const go = readFileSync(ALERTMANAGER_SPEC_FILE, 'utf8');
  const m = /SwaggerJSON = json\.RawMessage\(\[\]byte\(`([\s\S]*?)`\)\)/.exec(go);
  if (!m?.[1]) throw new Error(`no SwaggerJSON in ${ALERTMANAGER_SPEC_FILE}`);
  const spec = JSON.parse(m[1]) as Spec;
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats.default(ajv);
  ajv.addSchema({ $id: 'am', definitions: spec.definitions });
  loaded = { spec, ajv };
  return loaded;
}

/** `#/definitions/x` refs, made absolute so they resolve against the spec's definitions. */
function absolute(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(absolute);
  if (schema === null || typeof schema !== 'object') return schema;
  return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, k === '$ref' && typeof v === 'string' && v.startsWith('#/') ? `am${v}` : absolute(v)]));
}

const validators = new Map<string, ValidateFunction>();

/**
 * Errors of `body` as the answer `status` of `method path` (a path of the spec, `/silence/{silenceID}`),
 * `[]` when it conforms. Throws when the spec has no schema for that answer.
 */
export function alertmanagerResponseErrors(method: string, path: string, status: number, body: unknown): string[] {
  const { spec, ajv } = load();
  const key = `${method} ${path} ${status}`;
  let validate = validators.get(key);
  if (!validate) {
    const schema = spec.paths[path]?.[method.toLowerCase()]?.responses[String(status)]?.schema;
    if (schema === undefined) throw new Error(`the spec has no schema for ${key}`);
    validate = ajv.compile(absolute(schema) as object);
    validators.set(key, validate);
  }
  return validate(body) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '(body)'} ${e.message ?? ''}`);
}

/** The spec's version line (info.version) and its definitions' names, for the report of a test. */
export function alertmanagerSpecDefinitions(): string[] {
  return Object.keys(load().spec.definitions);
}
