// Validates Kubernetes manifests against the Kubernetes schemas, strictly (unknown fields fail), offline:
//   node test/deploy/validate-schemas.ts [<label>=]<file.yaml> ...
// Each file may hold several documents (kustomize renders). Exit 1 on any problem, each printed as
// `<label> <Kind> <namespace>/<name> (<apiVersion>): <field.path>: <message>`. Needs Node >= 24 (.ts).
// The schemas and how strictness is added: kube-schemas.ts.
import { readFileSync } from 'node:fs';
import { validateManifestText } from './kube-schemas.ts';

const args = process.argv.slice(2);
if (args.length === 0) {
  console.error('usage: node test/deploy/validate-schemas.ts [<label>=]<file.yaml> ...');
  process.exit(2);
}
const errors: string[] = [];
const summary: string[] = [];
let objects = 0;
for (const arg of args) {
  const eq = arg.indexOf('=');
  const [label, file] = eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, arg];
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    errors.push(`${label}: cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`);
    continue;
  }
  const result = await validateManifestText(text, label);
  objects += result.objects.length;
  errors.push(...result.errors);
  const kinds = [...new Set(result.objects.map((o) => o.split(' ')[0]))];
  summary.push(`${label}: ${result.objects.length} (${kinds.join(', ')})`);
}
if (errors.length > 0) {
  for (const e of errors) console.error(`FAIL ${e}`);
  console.error(`validate-schemas: ${errors.length} problem(s) in ${objects} objects`);
  process.exit(1);
}
for (const s of summary) console.log(`ok   ${s}`);
console.log(`ok   schemas: ${objects} objects valid against the Kubernetes and CRD schemas (strict: unknown fields fail)`);
