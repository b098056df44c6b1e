import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import { loadEnv } from '../../../src/config/env.ts';
import { parseDuration } from '../../../src/model/duration.ts';

// Issue #12 item 10: the graceful shutdown must end before Kubernetes kills the pod. The kubelet
// runs the preStop hook, then sends SIGTERM, and SIGKILLs at terminationGracePeriodSeconds counted
// from the start: so preStop pause + MESHDRIFT_SHUTDOWN_GRACE must stay below it.
const deploymentSchema = z.looseObject({
  spec: z.looseObject({
    template: z.looseObject({
      spec: z.looseObject({
        terminationGracePeriodSeconds: z.number().int().positive(),
        containers: z.array(
          z.looseObject({
            name: z.string(),
            env: z.array(z.looseObject({ name: z.string(), value: z.string().optional() })).optional(),
            lifecycle: z.looseObject({ preStop: z.looseObject({ exec: z.looseObject({ command: z.array(z.string()) }) }) }).optional(),
          }),
        ),
      }),
    }),
  }),
});

describe('MESHDRIFT_SHUTDOWN_GRACE and the Deployment', () => {
  const deployment = deploymentSchema.parse(parse(readFileSync(new URL('../../../deploy/kubernetes/base/deployment.yaml', import.meta.url), 'utf8')));
  const pod = deployment.spec.template.spec;
  const container = pod.containers.find((c) => c.name === 'meshdrift');

  it('preStop pause + shutdown grace (+ 2 s to exit) fits in terminationGracePeriodSeconds', () => {
    const command = container?.lifecycle?.preStop.exec.command ?? [];
    const pauseMs = command[0] === 'sleep' ? Number(command[1]) * 1000 : 0;
    const set = container?.env?.find((e) => e.name === 'MESHDRIFT_SHUTDOWN_GRACE')?.value;
    const graceMs = set === undefined ? loadEnv({}).MESHDRIFT_SHUTDOWN_GRACE : parseDuration(set);
    expect(graceMs).not.toBeNull();
    expect(pauseMs + (graceMs ?? Number.POSITIVE_INFINITY) + 2_000).toBeLessThanOrEqual(pod.terminationGracePeriodSeconds * 1000);
  });

  it('the default grace fits the base Deployment too', () => {
    expect(loadEnv({}).MESHDRIFT_SHUTDOWN_GRACE + 5_000 + 2_000).toBeLessThanOrEqual(pod.terminationGracePeriodSeconds * 1000);
  });
});
