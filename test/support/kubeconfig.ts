import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { FakeKubeApi } from '../fakes/kube-api.ts';

/** A kubeconfig file for the fake API, as a user would point MESHDRIFT_CLUSTERS at one. */
export function kubeconfigFor(api: FakeKubeApi): string {
  const dir = mkdtempSync(`${tmpdir()}/meshdrift-kube-`);
  const kc = api.kubeConfig();
  const user = kc.getCurrentUser();
  writeFileSync(
    `${dir}/kubeconfig`,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      // The client refuses plain HTTP unless TLS verification is off (the fake speaks HTTP).
      clusters: [{ name: 'fake', cluster: { server: api.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'fake-user', user: { token: user?.token ?? '' } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake-user' } }],
      'current-context': 'fake',
    }),
  );
  return `${dir}/kubeconfig`;
}
