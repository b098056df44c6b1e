import type { RouteConfig } from '../route/route-config.ts';
import { receiverTypeOf, type PolicyConfig } from './policy.ts';

/**
 * What `meshdrift validate` warns about in a valid policy: things that load and run but are
 * probably not meant. Pure.
 */

// A matcher on the `category` label, with any operator (`=`, `!=`, `=~`, `!~`), quoted or not.
const CATEGORY_MATCHER = /^\s*\{?\s*category\s*(=~|!~|!=|=)/;

/** The warnings of a parsed policy, one sentence each, in route order. */
export function policyWarnings(config: PolicyConfig): string[] {
  const remediate = new Set(config.receivers.filter((r) => receiverTypeOf(r) === 'remediate').map((r) => r.name));
  const warnings: string[] = [];
  const walk = (route: RouteConfig, where: string, inherited: boolean): void => {
    const hasCategory = inherited || (route.matchers ?? []).some((m) => CATEGORY_MATCHER.test(m));
    if (route.receiver !== undefined && remediate.has(route.receiver) && !hasCategory) {
      warnings.push(
        `${where}: sends to remediate receiver "${route.receiver}" without a category matcher (e.g. category="traffic"); it acts only on its \`categories\` (default the mesh ones), but a route that says which drift it may revert is clearer`,
      );
    }
    (route.routes ?? []).forEach((child, i) => walk(child, `${where}.routes[${i}]`, hasCategory));
  };
  walk(config.route, 'route', false);
  return warnings;
}
