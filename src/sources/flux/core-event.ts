import type { SlimEvent } from '../kube/slim.ts';
import type { FluxEvent } from './event.ts';

// Core Events → the event notification-controller would have posted.

/**
 * A core Event recorded by kustomize-controller or helm-controller, in the shape of the event
 * notification-controller forwards (fluxcd/pkg runtime/events: Warning → error, else info; the
 * recorder's metadata becomes the Event's annotations, still prefixed, which fluxRevisionOf reads).
 * Undefined when the Event is not about a named object.
 */
export function coreEventToFluxEvent(e: SlimEvent): FluxEvent | undefined {
  const o = e.involvedObject;
  if (!o.kind || !o.name) return undefined;
  const timestamp = e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? '';
  const metadata = e.metadata.annotations && Object.keys(e.metadata.annotations).length > 0 ? e.metadata.annotations : undefined;
  const controller = e.reportingComponent || e.source?.component;
  return {
    involvedObject: {
      kind: o.kind,
      namespace: o.namespace ?? '',
      name: o.name,
      ...(o.uid ? { uid: o.uid } : {}),
      ...(o.apiVersion ? { apiVersion: o.apiVersion } : {}),
    },
    severity: e.type === 'Warning' ? 'error' : 'info',
    timestamp,
    message: e.message ?? '',
    reason: e.reason ?? '',
    ...(metadata ? { metadata } : {}),
    ...(controller ? { reportingController: controller } : {}),
    ...(e.reportingInstance ? { reportingInstance: e.reportingInstance } : {}),
  };
}

/** Oldest first, so a relist replays Events in the order Flux recorded them (name order is arbitrary). */
export function chronological(events: SlimEvent[]): SlimEvent[] {
  const at = (e: SlimEvent): number => {
    const ms = Date.parse(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? '');
    return Number.isFinite(ms) ? ms : 0;
  };
  return events
    .map((e, i) => ({ e, i, t: at(e) }))
    .sort((a, b) => a.t - b.t || a.i - b.i)
    .map((x) => x.e);
}
