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
  send(notification: Notification): Promise<SendResult>;
}
