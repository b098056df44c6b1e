import { formatPolicyError, loadPolicyFile } from '../config/load.ts';
import { policyWarnings } from '../config/warnings.ts';

/**
 * `meshdrift validate <policy.yaml>`: a pre-merge check for a policy repository. Offline: secrets
 * the receivers name are not required here (they exist only where meshdrift runs).
 */
export async function runValidate(args: readonly string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const [file, ...rest] = args;
  if (file === undefined || rest.length > 0) {
    err.write('usage: meshdrift validate <policy.yaml>\n');
    return 2;
  }
  const result = await loadPolicyFile(file);
  if (!result.ok) {
    for (const e of result.errors) err.write(`${formatPolicyError(e)}\n`);
    err.write(`${file}: ${result.errors.length} error${result.errors.length === 1 ? '' : 's'}\n`);
    return 1;
  }
  for (const w of policyWarnings(result.policy.config)) err.write(`${file}: warning: ${w}\n`);
  const { rules, receivers, routes } = result.policy.summary;
  out.write(
    `${file}: OK (${rules} rule${rules === 1 ? '' : 's'}, ${receivers} receiver${receivers === 1 ? '' : 's'}, ${routes} route${routes === 1 ? '' : 's'})\n`,
  );
  return 0;
}
