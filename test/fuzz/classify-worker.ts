// Runs in a worker thread: loads a policy from text and classifies one signal with it, so the test
// can stop a classification that never ends (a backtracking regex) by terminating the worker.
import { parentPort, workerData } from 'node:worker_threads';
import { classify } from '../../src/classify/classify.ts';
import { formatPolicyError, loadPolicyText } from '../../src/config/load.ts';
import type { Signal } from '../../src/model/signal.ts';

export interface ClassifyJob {
  policy: string;
  signal: Signal;
}

export type ClassifyOutcome = { ok: true; findings: number; ms: number } | { ok: false; error: string };

const job = workerData as ClassifyJob;
let outcome: ClassifyOutcome;
try {
  const loaded = loadPolicyText(job.policy, 'policy.yaml');
  if (!loaded.ok) throw new Error(loaded.errors.map(formatPolicyError).join('\n'));
  // Loaded: the test's hang limit counts from here, not from the worker's start (slow on a loaded machine).
  parentPort?.postMessage('ready');
  const started = performance.now();
  const findings = classify(job.signal, loaded.policy.classify);
  outcome = { ok: true, findings: findings.length, ms: performance.now() - started };
} catch (err) {
  outcome = { ok: false, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
}
parentPort?.postMessage(outcome);
