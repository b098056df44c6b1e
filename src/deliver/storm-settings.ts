import type { ReceiverConfig } from '../config/policy.ts';
import type { StormSettings } from './storm.ts';

/**
 * A receiver's drift-storm settings: its policy's `storm` (`off`, or a threshold and window), each
 * key left out taken from `defaults` (MESHDRIFT_STORM_THRESHOLD, MESHDRIFT_STORM_WINDOW). A
 * receiver the policy does not name gets the defaults.
 */
export function stormSettingsOf(receivers: readonly ReceiverConfig[], defaults: StormSettings, name: string): StormSettings {
  const storm = receivers.find((r) => r.name === name)?.storm;
  if (storm === undefined) return defaults;
  if (storm === 'off') return { ...defaults, threshold: 0 };
  return { threshold: storm.threshold ?? defaults.threshold, windowMs: storm.window ?? defaults.windowMs };
}
