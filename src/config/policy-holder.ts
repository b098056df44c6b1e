import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Env } from './env.ts';
import { compilePolicy, formatPolicyError, loadPolicyFile, type LoadOptions, type LoadedPolicy } from './load.ts';
import type { PolicyConfig, ReceiverConfig } from './policy.ts';

/**
 * The policy in force and the receivers built from it. Reloads (SIGHUP, file change) swap both at
 * once; a bad new file keeps the old ones running, is logged, and sets
 * meshdrift_policy_reload_success to 0. `N` is the receiver type: built by the floor that owns
 * receivers (deliver/policy-receivers.ts), so config/ knows nothing of them.
 */
export interface PolicyHolder<N> {
  current(): LoadedPolicy;
  notifiers(): ReadonlyMap<string, N>;
  /** Re-reads the file; true if the new policy is in force. No-op (true) without a file. */
  reload(): Promise<boolean>;
  /** Watches the file's directory (ConfigMaps swap a symlink there) and reloads on change. */
  watch(): void;
  close(): void;
}

export class PolicyLoadError extends Error {
  override readonly name = 'PolicyLoadError';
}

/** The built-in policy: one receiver (Slack when SLACK_BOT_TOKEN is set, else console), default severities. */
export function builtInPolicyConfig(env: Pick<Env, 'SLACK_BOT_TOKEN' | 'SLACK_CHANNEL'>): PolicyConfig {
  const receiver: ReceiverConfig =
    env.SLACK_BOT_TOKEN !== undefined && env.SLACK_CHANNEL
      ? { name: 'slack', slack: { channel: env.SLACK_CHANNEL, token_env: 'SLACK_BOT_TOKEN' }, send_resolved: true }
      : { name: 'console', console: {}, send_resolved: true };
  return { rules: [], receivers: [receiver], route: { receiver: receiver.name }, inhibit_rules: [], time_intervals: [] };
}

export interface PolicyHolderOptions<N> {
  env: Env;
  /** The raw environment, for the secrets receivers name. */
  processEnv: NodeJS.ProcessEnv;
  /** The receivers of a policy, built; `policy` is the whole of it (routes decide what a receiver shows). */
  buildNotifiers: (receivers: readonly ReceiverConfig[], policy: LoadedPolicy) => Map<string, N>;
  metrics: Metrics;
  log: Logger;
  now: () => number;
}

function loadOptions(opts: Pick<PolicyHolderOptions<unknown>, 'env' | 'processEnv'>): LoadOptions {
  const timing = {
    groupWaitMs: opts.env.MESHDRIFT_GROUP_WAIT,
    groupIntervalMs: opts.env.MESHDRIFT_GROUP_INTERVAL,
    resolveWaitMs: opts.env.MESHDRIFT_RESOLVE_WAIT,
  };
  return { timing, env: opts.processEnv };
}

/** Loads the initial policy (file or built-in); throws PolicyLoadError listing every error. */
export async function createPolicyHolder<N>(opts: PolicyHolderOptions<N>): Promise<PolicyHolder<N>> {
  const file = opts.env.MESHDRIFT_POLICY;
  const load = async (): Promise<{ policy: LoadedPolicy; notifiers: Map<string, N> }> => {
    let policy: LoadedPolicy;
    if (file === undefined) {
      policy = compilePolicy(builtInPolicyConfig(opts.env), 'built-in defaults', loadOptions(opts));
    } else {
      const result = await loadPolicyFile(file, loadOptions(opts));
      if (!result.ok) throw new PolicyLoadError(`policy ${file} is invalid:\n${result.errors.map((e) => `  ${formatPolicyError(e)}`).join('\n')}`);
      policy = result.policy;
    }
    try {
      return { policy, notifiers: opts.buildNotifiers(policy.receivers, policy) };
    } catch (err) {
      throw new PolicyLoadError(`policy ${policy.source}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };

  let state = await load();
  opts.metrics.policyReloaded(true, opts.now());
  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  let reloading: Promise<boolean> | undefined;

  const reload = async (): Promise<boolean> => {
    if (file === undefined) return true;
    try {
      state = await load();
      opts.metrics.policyReloaded(true, opts.now());
      opts.log.info({ policy: file, ...state.policy.summary }, 'policy reloaded');
      return true;
    } catch (err) {
      opts.metrics.policyReloaded(false, opts.now());
      opts.log.error({ policy: file, error: err instanceof Error ? err.message : String(err) }, 'policy reload failed; the previous policy stays in force');
      return false;
    }
  };

  const holder: PolicyHolder<N> = {
    current: () => state.policy,
    notifiers: () => state.notifiers,
    reload: () => {
      // Serialise reloads: a burst of file events or signals runs one at a time.
      reloading = (reloading ?? Promise.resolve(true)).then(reload, reload);
      return reloading;
    },
    watch() {
      if (file === undefined || watcher) return;
      const name = basename(file);
      watcher = watch(dirname(file), (_event, changed) => {
        if (changed !== null && changed !== name && !changed.startsWith('..')) return;
        clearTimeout(timer);
        timer = setTimeout(() => void holder.reload(), 300);
      });
      watcher.on('error', (err) => opts.log.warn({ error: err.message }, 'policy file watch failed; reload with SIGHUP'));
    },
    close() {
      clearTimeout(timer);
      watcher?.close();
    },
  };
  return holder;
}
