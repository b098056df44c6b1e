/**
 * Placeholder secrets (issue #12): a value copied from an example (`REPLACE_ME_…`, `changeme`,
 * `<token>`, `…example…`) or too short to resist guessing is refused at start, naming the variable
 * and never the value. The rule, documented in docs/reference.md ("Secrets"):
 *
 * - every secret: refused if it contains `REPLACE_ME`/`REPLACEME`/`CHANGEME` (any case, `_`/`-`
 *   allowed between the words), `<…>`, `example`, `placeholder`, or `...` (as in `xoxb-...`);
 * - a secret meshdrift checks on requests it receives (the webhook and API tokens, the Flux HMAC
 *   key, sender credentials): also refused if shorter than {@link MIN_INBOUND_SECRET_LENGTH}
 *   characters (`openssl rand -hex 32` gives 64).
 */
export const MIN_INBOUND_SECRET_LENGTH = 16;

/** Secrets meshdrift verifies on incoming requests, and the admission hash key: the placeholder rule plus the length rule. */
export const INBOUND_SECRET_VARS = [
  'MESHDRIFT_ARGOCD_TOKEN',
  'MESHDRIFT_FLUX_HMAC_KEY',
  'MESHDRIFT_FLUX_TOKEN',
  'MESHDRIFT_API_TOKEN',
  'MESHDRIFT_ADMISSION_HASH_KEY',
] as const;
/** Secrets meshdrift presents to others (issued by them): the placeholder rule only. */
export const OUTBOUND_SECRET_VARS = [
  'SLACK_BOT_TOKEN',
  'SLACK_SIGNING_SECRET',
  'ARGOCD_TOKEN',
  'REDIS_URL',
  'REDIS_PASSWORD',
  'REDIS_SENTINEL_PASSWORD',
] as const;

const PLACEHOLDER = /replace[-_ ]?me|change[-_ ]?me|<[^<>]*>|example|placeholder|\.\.\./i;

/**
 * Why `value` cannot be a real secret, or undefined. The reason never quotes the value.
 * `inbound`: also apply the minimum length.
 */
export function placeholderProblem(value: string, inbound: boolean): string | undefined {
  if (PLACEHOLDER.test(value)) return 'looks like a placeholder (REPLACE_ME, changeme, <...>, example, placeholder or ...): set the real secret';
  if (inbound && value.trim().length < MIN_INBOUND_SECRET_LENGTH) {
    return `is shorter than ${MIN_INBOUND_SECRET_LENGTH} characters: use a random value, e.g. $(openssl rand -hex 32)`;
  }
  return undefined;
}

/** One line per secret variable of `env` that is a placeholder: `  NAME: why`. */
export function placeholderSecrets(env: NodeJS.ProcessEnv): string[] {
  const lines: string[] = [];
  const check = (name: string, inbound: boolean) => {
    const value = env[name];
    if (value === undefined || value.trim() === '') return;
    // REDIS_URL: only its password is a secret; the host name may well say "example".
    const secret = name === 'REDIS_URL' ? redisPassword(value) : value;
    if (secret === undefined || secret === '') return;
    const problem = placeholderProblem(secret, inbound);
    if (problem !== undefined) lines.push(`  ${name}: ${name === 'REDIS_URL' ? `its password ${problem}` : problem}`);
  };
  for (const name of INBOUND_SECRET_VARS) check(name, true);
  for (const name of OUTBOUND_SECRET_VARS) check(name, false);
  return lines;
}

function redisPassword(url: string): string | undefined {
  try {
    return decodeURIComponent(new URL(url).password);
  } catch {
    return undefined;
  }
}
