import { versionLine } from '../model/build-info.ts';

/** The commands and what `meshdrift <command> --help` prints (issue #19: help never runs the command). */
export const COMMAND_HELP = {
  serve: `usage: meshdrift serve

Runs the service: webhooks, API, metrics, watches, workers. Configuration comes from the environment
(docs/reference.md); it needs Redis (REDIS_URL, default redis://127.0.0.1:6379). Stops on SIGTERM or
SIGINT; SIGHUP re-reads the policy file.
`,
  demo: `usage: meshdrift demo

Replays examples/demo (listed in examples/demo/steps.json) through the real pipeline (HTTP webhooks,
Redis, BullMQ) into the console receiver, and checks each step's notifications. Needs Redis
(REDIS_URL, 127.0.0.1:6379, or a redis-server on PATH it starts for the run); deletes its keys after.
`,
  validate: `usage: meshdrift validate <policy.yaml>

Checks a policy file offline: YAML, schema, references between routes, receivers and intervals,
matchers. Exit 0 when valid; else exit 1 with every error found, one per line, file:line:col.
`,
  explain: `usage: meshdrift explain <file> [--policy <policy.yaml>] [--json]

What a file would alert, how loudly, to whom, and why, offline. <file> (JSON or YAML) is an Argo CD
Application, an Argo CD webhook body ({"app": ...}), a Flux event ({"involvedObject": ...}), or any
Kubernetes object, as read from a cluster or written in Git (an Istio VirtualService, a Gateway API
HTTPRoute, a Deployment): what its status shows now (mesh objects read from a cluster), and what a
drift of it would be classified as (category, severity per drift state, receivers). Without
--policy, the built-in defaults. ARGOCD_URL and MESHDRIFT_GIT_HOSTS add links.
`,
} as const satisfies Record<string, string>;

export type CommandName = keyof typeof COMMAND_HELP;

export const USAGE = `usage: meshdrift <command> [--help]
       meshdrift --version

commands:
  serve                      run the service (configuration from the environment; see README)
  demo                       replay examples/demo through the real pipeline into the console receiver
  validate <policy.yaml>     check a policy file; exit 1 with every error (file:line:col)
  explain <file> [--policy <policy.yaml>] [--json]
                             what an Argo CD Application, webhook body, Flux event or Kubernetes
                             object (a mesh manifest) would alert, and why
`;

export function isCommand(name: string | undefined): name is CommandName {
  return name !== undefined && Object.hasOwn(COMMAND_HELP, name);
}

/**
 * `--help`/`-h` or `--version` anywhere among a command's arguments: the text to print instead of
 * running it (so `serve --help` starts nothing and `validate --help` reads no file), else null.
 */
export function helpOrVersion(command: CommandName, args: readonly string[]): string | null {
  if (args.includes('--version')) return `${versionLine()}\n`;
  if (args.includes('--help') || args.includes('-h')) return COMMAND_HELP[command];
  return null;
}
