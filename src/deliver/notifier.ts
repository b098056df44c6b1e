import type { Notification } from '../model/alert-group.ts';
import type { HttpResult } from '../net/http.ts';

/**
 * The outcome of one delivery attempt. Retryability is part of the type (Alertmanager's
 * `(retry, err)`): the worker turns `retryable: false` into BullMQ's UnrecoverableError.
 * `reason` must never contain a secret (token, webhook URL).
 */
export type SendResult = HttpResult;

/** A receiver: delivers one notification. Never throws for a delivery failure; returns it. */
export interface Notifier {
  /** The receiver type (console, slack, pagerduty…): a metric label, never a secret. */
  readonly type: string;
  /** Whether resolved notifications are sent (default true, as Alertmanager's webhook/PagerDuty). */
  readonly sendResolved?: boolean;
  /**
   * What the receiver can do besides `send`, as it declared (see {@link Capability}); a copy of the
   * notifier (`{ ...n }`) keeps them. Absent: nothing else.
   */
  readonly capabilities?: CapabilitySet;
  send(notification: Notification): Promise<SendResult>;
}

/** The capabilities one receiver declared: opaque; ask a {@link Capability} for its part. */
export interface CapabilitySet {
  /** The names of the declared capabilities (for logs and tests). */
  readonly names: readonly string[];
}

/** One capability granted to a receiver, with what implements it; see {@link withCapabilities}. */
export interface CapabilityGrant {
  readonly name: string;
  /** Records the grant in `set` (called once, by withCapabilities). */
  bind(set: CapabilitySet): void;
}

/**
 * Something a receiver can do besides `send` (tell owner notes, acknowledge, remediate per owner),
 * declared by the receiver when it is made and looked up by the feature that uses it: never
 * inferred from the shape of the object. Each feature defines its capability next to its job
 * handler (deliver/slack/note-job.ts, deliver/pagerduty/acknowledge-job.ts, remediate/capability.ts),
 * so this floor knows nothing of them.
 */
export class Capability<T> {
  readonly name: string;
  readonly #granted = new WeakMap<CapabilitySet, T>();
  constructor(name: string) {
    this.name = name;
  }
  /** The grant of this capability, implemented by `impl`, for {@link withCapabilities}. */
  grant(impl: T): CapabilityGrant {
    return { name: this.name, bind: (set) => this.#granted.set(set, impl) };
  }
  /** What implements this capability for `n`, or undefined when `n` did not declare it. */
  of(n: Notifier): T | undefined {
    return n.capabilities === undefined ? undefined : this.#granted.get(n.capabilities);
  }
}

/** `notifier`, declaring the capabilities it is granted. */
export function withCapabilities<N extends Notifier>(notifier: N, ...grants: CapabilityGrant[]): N & { readonly capabilities: CapabilitySet } {
  const set: CapabilitySet = Object.freeze({ names: Object.freeze(grants.map((g) => g.name)) });
  for (const g of grants) g.bind(set);
  return Object.assign(notifier, { capabilities: set });
}
