import { describe, expect, it } from 'vitest';
import { MAX_NOT_IN_EFFECT_REASON, notInEffect, slimMeshStatusSchema } from '../../../../src/sources/mesh/effect.ts';

/**
 * Status shapes as the controllers write them (sources in docs/mesh.md, "Not in effect"):
 * kgateway's HTTPRoute refused by its Gateway's listeners, NGINX Gateway Fabric's accepted route,
 * a TCPRoute refused by Istio (Kubernetes in Action, 2nd ed., ch. 13), Linkerd's policy
 * controller conditions (no observedGeneration, empty message), Envoy Gateway's and Istio's
 * Gateway without an address, and Istio's status with validation messages (protojson: level ERROR,
 * observedGeneration as a string) in its current and its 1.4 shape.
 */

const G = 'gateway.networking.k8s.io';

const kgatewayRefused = {
  parents: [
    {
      conditions: [
        { lastTransitionTime: '2025-04-16T22:15:18Z', message: '', observedGeneration: 1, reason: 'NotAllowedByListeners', status: 'False', type: 'Accepted' },
        { lastTransitionTime: '2025-04-16T22:15:18Z', message: '', observedGeneration: 1, reason: 'ResolvedRefs', status: 'True', type: 'ResolvedRefs' },
      ],
      controllerName: 'kgateway.dev/kgateway',
      parentRef: { group: G, kind: 'Gateway', name: 'my-gateway', namespace: 'kgateway-system', sectionName: 'httpbin-https' },
    },
  ],
};

const nginxAccepted = {
  parents: [
    {
      conditions: [
        {
          lastTransitionTime: '2024-09-28T20:12:45Z',
          message: 'The route is accepted',
          observedGeneration: 1,
          reason: 'Accepted',
          status: 'True',
          type: 'Accepted',
        },
        {
          lastTransitionTime: '2024-09-28T20:12:45Z',
          message: 'All references are resolved',
          observedGeneration: 1,
          reason: 'ResolvedRefs',
          status: 'True',
          type: 'ResolvedRefs',
        },
      ],
      controllerName: 'gateway.nginx.org/nginx-gateway-controller',
      parentRef: { group: G, kind: 'Gateway', name: 'cafe', namespace: 'default' },
    },
  ],
};

const tcpRouteRefused = {
  parents: [
    {
      conditions: [
        {
          lastTransitionTime: '2023-03-12T17:02:54Z',
          message:
            'kind gateway.networking.k8s.io/v1alpha2/TCPRoute is not allowed; hostnames matched parent hostname "", but namespace "kiada" is not allowed by the parent',
          observedGeneration: 1,
          reason: 'NotAllowedByListeners',
          status: 'False',
          type: 'Accepted',
        },
      ],
      controllerName: 'istio.io/gateway-controller',
      parentRef: { group: G, kind: 'Gateway', name: 'shared', namespace: 'gateway-namespace' },
    },
  ],
};

const linkerdNoParent = {
  parents: [
    {
      conditions: [{ lastTransitionTime: '2024-05-01T10:00:00Z', message: '', reason: 'NoMatchingParent', status: 'False', type: 'Accepted' }],
      controllerName: 'linkerd.io/policy-controller',
      parentRef: { group: 'policy.linkerd.io', kind: 'Server', name: 'web-http', namespace: 'emojivoto' },
    },
  ],
};

const istioStatus = {
  observedGeneration: '1',
  validationMessages: [{ documentationUrl: 'https://istio.io/v1.24/docs/reference/config/analysis/ist0101/', level: 'ERROR', type: { code: 'IST0101' } }],
};

describe('notInEffect: Gateway API routes', () => {
  it('a route its Gateway refused (kgateway, NotAllowedByListeners) is not in effect, naming the parent and listener', () => {
    expect(notInEffect({ group: G, kind: 'HTTPRoute', generation: 1, status: kgatewayRefused })).toEqual({
      reason: 'not accepted by Gateway kgateway-system/my-gateway (listener httpbin-https): NotAllowedByListeners',
    });
  });

  it('an accepted route with resolved references (NGINX Gateway Fabric) is in effect', () => {
    expect(notInEffect({ group: G, kind: 'HTTPRoute', generation: 1, status: nginxAccepted })).toBeNull();
  });

  it('quotes the controller message (TCPRoute refused by Istio)', () => {
    expect(notInEffect({ group: G, kind: 'TCPRoute', generation: 1, status: tcpRouteRefused })?.reason).toBe(
      'not accepted by Gateway gateway-namespace/shared: NotAllowedByListeners: kind gateway.networking.k8s.io/v1alpha2/TCPRoute is not allowed; hostnames matched parent hostname "", but namespace "kiada" is not allowed by the parent',
    );
  });

  it('ResolvedRefs=False is not in effect too; every problem counted, the first one told', () => {
    const status = {
      parents: [
        {
          parentRef: { name: 'public', namespace: 'infra' },
          conditions: [
            { type: 'Accepted', status: 'True', reason: 'Accepted', observedGeneration: 4 },
            { type: 'ResolvedRefs', status: 'False', reason: 'BackendNotFound', message: 'service "reviews-v3" not found', observedGeneration: 4 },
          ],
        },
        {
          parentRef: { name: 'internal', namespace: 'infra' },
          conditions: [{ type: 'Accepted', status: 'False', reason: 'NoMatchingListenerHostname', observedGeneration: 4 }],
        },
      ],
    };
    expect(notInEffect({ group: G, kind: 'GRPCRoute', generation: 4, status })).toEqual({
      reason: 'references not resolved for Gateway infra/public: BackendNotFound: service "reviews-v3" not found (+1 more)',
    });
  });

  it('a condition about an older generation is not yet evaluated: no finding', () => {
    expect(notInEffect({ group: G, kind: 'HTTPRoute', generation: 2, status: kgatewayRefused })).toBeNull();
    // A newer observedGeneration than the cached generation (the watch saw the status first) counts.
    expect(notInEffect({ group: G, kind: 'HTTPRoute', generation: 1, status: kgatewayRefused })).not.toBeNull();
    // Without a known generation, the condition counts.
    expect(notInEffect({ group: G, kind: 'HTTPRoute', status: kgatewayRefused })).not.toBeNull();
  });

  it('PartiallyInvalid=True, whether rules were dropped or the route fell back to its last good generation', () => {
    const dropped = {
      parents: [
        {
          parentRef: { name: 'gw' },
          conditions: [
            { type: 'Accepted', status: 'True', reason: 'Accepted', observedGeneration: 5 },
            {
              type: 'PartiallyInvalid',
              status: 'True',
              reason: 'UnsupportedValue',
              message: 'Dropped Rule(s): rule 2 uses an unsupported filter',
              observedGeneration: 5,
            },
          ],
        },
      ],
    };
    expect(notInEffect({ group: G, kind: 'HTTPRoute', generation: 5, status: dropped })?.reason).toBe(
      'partly invalid for Gateway gw: UnsupportedValue: Dropped Rule(s): rule 2 uses an unsupported filter',
    );
    // Fall Back: Accepted=True stays at the last good generation (4), PartiallyInvalid speaks of 5.
    const fellBack = {
      parents: [
        {
          parentRef: { name: 'gw' },
          conditions: [
            { type: 'Accepted', status: 'True', reason: 'Accepted', observedGeneration: 4 },
            {
              type: 'PartiallyInvalid',
              status: 'True',
              reason: 'UnsupportedValue',
              message: 'Fall Back: rule 1 sets both URLRewrite and RequestRedirect',
              observedGeneration: 5,
            },
          ],
        },
      ],
    };
    expect(notInEffect({ group: G, kind: 'HTTPRoute', generation: 5, status: fellBack })?.reason).toBe(
      'partly invalid for Gateway gw: UnsupportedValue: Fall Back: rule 1 sets both URLRewrite and RequestRedirect',
    );
  });

  it('a mesh route on a Service parent names the Service and its port', () => {
    const status = {
      parents: [
        {
          parentRef: { group: '', kind: 'Service', name: 'reviews', port: 9080 },
          conditions: [{ type: 'Accepted', status: 'False', reason: 'UnsupportedValue' }],
        },
      ],
    };
    expect(notInEffect({ group: G, kind: 'HTTPRoute', status })?.reason).toBe('not accepted by Service reviews port 9080: UnsupportedValue');
  });

  it('a route with no status yet, or no parents in it, is no finding', () => {
    expect(notInEffect({ group: G, kind: 'HTTPRoute', generation: 1 })).toBeNull();
    expect(notInEffect({ group: G, kind: 'HTTPRoute', generation: 1, status: {} })).toBeNull();
    expect(notInEffect({ group: G, kind: 'HTTPRoute', generation: 1, status: { parents: [] } })).toBeNull();
  });
});

describe('notInEffect: Gateway, GatewayClass', () => {
  it('a Gateway not programmed (Envoy Gateway, no address) is not in effect', () => {
    const status = {
      conditions: [{ type: 'Programmed', status: 'False', reason: 'AddressNotAssigned', message: 'No addresses have been assigned to the Gateway' }],
    };
    expect(notInEffect({ group: G, kind: 'Gateway', generation: 1, status })).toEqual({
      reason: 'not programmed: AddressNotAssigned: No addresses have been assigned to the Gateway',
    });
  });

  it('Accepted=False on a Gateway; a current programmed Gateway is in effect', () => {
    const refused = { conditions: [{ type: 'Accepted', status: 'False', reason: 'InvalidParameters', observedGeneration: 3 }] };
    expect(notInEffect({ group: G, kind: 'Gateway', generation: 3, status: refused })?.reason).toBe('not accepted: InvalidParameters');
    const fine = {
      conditions: [
        { type: 'Accepted', status: 'True', reason: 'Accepted', observedGeneration: 3 },
        {
          type: 'Programmed',
          status: 'True',
          reason: 'Programmed',
          message: 'Resource programmed, assigned to service(s) gateway-istio.istio-system.svc.cluster.local:80',
          observedGeneration: 3,
        },
      ],
    };
    expect(notInEffect({ group: G, kind: 'Gateway', generation: 3, status: fine })).toBeNull();
  });

  it('a GatewayClass its controller did not accept', () => {
    const status = { conditions: [{ type: 'Accepted', status: 'False', reason: 'InvalidParameters', message: 'configmap "custom" not found' }] };
    expect(notInEffect({ group: G, kind: 'GatewayClass', status })?.reason).toBe('not accepted: InvalidParameters: configmap "custom" not found');
  });
});

describe('notInEffect: Linkerd', () => {
  it('a policy.linkerd.io HTTPRoute with no matching Server (no observedGeneration, empty message)', () => {
    expect(notInEffect({ group: 'policy.linkerd.io', kind: 'HTTPRoute', generation: 7, status: linkerdNoParent })).toEqual({
      reason: 'not accepted by Server emojivoto/web-http: NoMatchingParent',
    });
  });

  it('an HTTPLocalRateLimitPolicy refused because another one targets the same Server', () => {
    const status = {
      conditions: [{ lastTransitionTime: '2024-05-01T10:00:00Z', message: '', reason: 'RateLimitReasonAlreadyExists', status: 'False', type: 'Accepted' }],
    };
    expect(notInEffect({ group: 'policy.linkerd.io', kind: 'HTTPLocalRateLimitPolicy', generation: 2, status })?.reason).toBe(
      'not accepted: RateLimitReasonAlreadyExists',
    );
  });

  it('an EgressNetwork that overlaps the cluster networks', () => {
    const status = {
      conditions: [{ message: 'networks overlap with clusterNetworks', reason: 'EgressReasonNetworkOverlap', status: 'False', type: 'Accepted' }],
    };
    expect(notInEffect({ group: 'policy.linkerd.io', kind: 'EgressNetwork', status })?.reason).toBe(
      'not accepted: EgressReasonNetworkOverlap: networks overlap with clusterNetworks',
    );
  });

  it('Linkerd kinds that write no such status are never not in effect', () => {
    expect(
      notInEffect({ group: 'policy.linkerd.io', kind: 'AuthorizationPolicy', status: { conditions: [{ type: 'Accepted', status: 'False' }] } }),
    ).toBeNull();
  });
});

describe('notInEffect: Istio', () => {
  it('an ERROR validation message in the current shape (level ERROR, type.code, observedGeneration "1")', () => {
    expect(notInEffect({ group: 'networking.istio.io', kind: 'VirtualService', generation: 1, status: istioStatus })).toEqual({
      reason: 'istiod analysis error IST0101',
    });
  });

  it('the message is about an older generation: not yet evaluated', () => {
    expect(notInEffect({ group: 'networking.istio.io', kind: 'VirtualService', generation: 2, status: istioStatus })).toBeNull();
  });

  it('the Istio 1.4 shape: code, level Error, message', () => {
    const status = { validationMessages: [{ code: 'IST0101', level: 'Error', message: 'Referenced gateway not found: "bogus-gateway"' }] };
    expect(notInEffect({ group: 'networking.istio.io', kind: 'VirtualService', generation: 11, status })?.reason).toBe(
      'istiod analysis error IST0101: Referenced gateway not found: "bogus-gateway"',
    );
  });

  it('warnings and infos are no finding; the protobuf enum number 3 is an error', () => {
    const warnings = {
      validationMessages: [
        { level: 'WARNING', type: { code: 'IST0102' } },
        { level: 'INFO', type: { code: 'IST0118' } },
        { code: 'IST0102', level: 'Warn', message: 'mTLS not enabled for virtual service' },
      ],
    };
    expect(notInEffect({ group: 'networking.istio.io', kind: 'DestinationRule', status: warnings })).toBeNull();
    const numeric = { validationMessages: [{ level: 3, type: { code: 'IST0101', name: 'ReferencedResourceNotFound' } }] };
    expect(notInEffect({ group: 'security.istio.io', kind: 'AuthorizationPolicy', status: numeric })?.reason).toBe(
      'istiod analysis error IST0101 (ReferencedResourceNotFound)',
    );
  });

  it('Reconciled=False (istiod has not pushed it to every proxy) is not in effect; True is', () => {
    const propagating = {
      observedGeneration: '5',
      conditions: [
        {
          lastProbeTime: null,
          lastTransitionTime: '2019-12-26T22:06:34Z',
          message: '61/122 complete',
          reason: 'stillPropagating',
          status: 'False',
          type: 'Reconciled',
        },
        {
          lastProbeTime: null,
          lastTransitionTime: '2019-12-26T22:06:56Z',
          message: 'Analysis passed',
          reason: 'noErrors',
          status: 'True',
          type: 'PassedAnalysis',
        },
      ],
    };
    expect(notInEffect({ group: 'networking.istio.io', kind: 'DestinationRule', generation: 5, status: propagating })?.reason).toBe(
      'not reconciled by istiod: stillPropagating: 61/122 complete',
    );
    expect(notInEffect({ group: 'networking.istio.io', kind: 'DestinationRule', generation: 6, status: propagating })).toBeNull();
    const done = { conditions: [{ type: 'Reconciled', status: 'True', reason: 'reconciled', message: '122/122 complete' }] };
    expect(notInEffect({ group: 'networking.istio.io', kind: 'DestinationRule', generation: 5, status: done })).toBeNull();
  });

  it('an Istio object without status (istiod writes none by default) is in effect as far as meshdrift can tell', () => {
    expect(notInEffect({ group: 'networking.istio.io', kind: 'VirtualService', generation: 3 })).toBeNull();
    expect(notInEffect({ group: 'networking.istio.io', kind: 'VirtualService', generation: 3, status: {} })).toBeNull();
  });
});

describe('notInEffect: kinds and groups it does not judge', () => {
  it.each([
    ['cilium.io', 'CiliumNetworkPolicy'],
    ['', 'ConfigMap'],
    ['networking.k8s.io', 'NetworkPolicy'],
    ['gateway.networking.k8s.io', 'ReferenceGrant'],
  ])('%s %s', (group, kind) => {
    expect(notInEffect({ group, kind, status: kgatewayRefused })).toBeNull();
  });
});

describe('reasons from hostile status text', () => {
  it('one line, no control, bidi or invisible characters, bounded', () => {
    const status = {
      parents: [
        {
          parentRef: { name: 'gw\u202Eevil', namespace: 'infra\u0000' },
          conditions: [{ type: 'Accepted', status: 'False', reason: 'Refused\r\nFAKE: line', message: `a\u200Bb\u0007c\n\tnext ${'x'.repeat(5_000)}` }],
        },
      ],
    };
    const r = notInEffect({ group: G, kind: 'HTTPRoute', status });
    expect(r).not.toBeNull();
    const reason = r?.reason ?? '';
    expect(reason).toMatch(/^not accepted by Gateway infra\/gwevil: Refused FAKE: line: abc next x+…$/);
    expect(reason).not.toMatch(/[\u0000-\u001F\u007F-\u009F\u200B-\u200F\u202A-\u202E\u2066-\u2069]/u);
    expect(reason.length).toBeLessThanOrEqual(MAX_NOT_IN_EFFECT_REASON);
  });

  it('a credential quoted in a controller message is masked', () => {
    const jwt = 'eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJhbGljZUBjb3JwIiwiaWF0IjoxNzAwMDAwMDAwfQ.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU';
    const status = {
      conditions: [{ type: 'Programmed', status: 'False', reason: 'Invalid', message: `header value Bearer ${jwt} rejected` }],
    };
    const reason = notInEffect({ group: G, kind: 'Gateway', status })?.reason ?? '';
    expect(reason).toMatch(/^not programmed: Invalid: header value /);
    expect(reason).not.toContain('eyJ');
    expect(reason).toContain('MASKED');
  });

  it('many problems: the first one told, the rest counted, still bounded', () => {
    const parents = Array.from({ length: 200 }, (_, i) => ({
      parentRef: { name: `gw-${i}-${'n'.repeat(250)}` },
      conditions: Array.from({ length: 50 }, () => ({ type: 'Accepted', status: 'False', reason: 'R'.repeat(2_000), message: 'm'.repeat(40_000) })),
    }));
    const reason = notInEffect({ group: G, kind: 'HTTPRoute', status: { parents } })?.reason ?? '';
    // At most 32 parents of 16 conditions each are kept.
    expect(reason.endsWith(` (+${32 * 16 - 1} more)`)).toBe(true);
    expect(reason.length).toBeLessThanOrEqual(MAX_NOT_IN_EFFECT_REASON);
  });

  it('a lone surrogate cut from a long message never reaches the reason', () => {
    const status = { conditions: [{ type: 'Programmed', status: 'False', reason: 'Invalid', message: `${'a'.repeat(159)}😀tail` }] };
    const reason = notInEffect({ group: G, kind: 'Gateway', status })?.reason ?? '';
    expect(reason).not.toMatch(/[\uD800-\uDFFF]/u);
  });

  it('malformed parts are dropped, never the whole status; a non-object status is no finding', () => {
    const status = {
      parents: [
        'junk',
        { parentRef: { name: 42 }, conditions: [{ type: 'Accepted', status: 'False' }] },
        {
          parentRef: { name: 'ok' },
          conditions: [{ type: 7 }, null, { type: 'Accepted', status: 'False', reason: 'NoMatchingParent', observedGeneration: 'x' }],
        },
      ],
    };
    expect(notInEffect({ group: G, kind: 'HTTPRoute', generation: 3, status })?.reason).toBe('not accepted by Gateway ok: NoMatchingParent');
    for (const junk of ['text', 42, [], true]) expect(notInEffect({ group: 'networking.istio.io', kind: 'VirtualService', status: junk })).toBeNull();
  });
});

describe('slimMeshStatusSchema', () => {
  it('keeps only what notInEffect reads', () => {
    const raw = {
      ...kgatewayRefused,
      addresses: [{ type: 'IPAddress', value: '10.0.0.1' }],
      listeners: [{ name: 'http', attachedRoutes: 3, conditions: [], supportedKinds: [] }],
    };
    expect(slimMeshStatusSchema.parse(raw)).toEqual({
      parents: [
        {
          conditions: [
            { message: '', observedGeneration: 1, reason: 'NotAllowedByListeners', status: 'False', type: 'Accepted' },
            { message: '', observedGeneration: 1, reason: 'ResolvedRefs', status: 'True', type: 'ResolvedRefs' },
          ],
          controllerName: 'kgateway.dev/kgateway',
          parentRef: { group: G, kind: 'Gateway', name: 'my-gateway', namespace: 'kgateway-system', sectionName: 'httpbin-https' },
        },
      ],
    });
    expect(slimMeshStatusSchema.parse(istioStatus)).toEqual({ observedGeneration: 1, validationMessages: [{ level: 'ERROR', type: { code: 'IST0101' } }] });
  });

  it('bounds counts and lengths; a slim status judges like the raw one', () => {
    const raw = {
      parents: Array.from({ length: 100 }, () => ({
        parentRef: { name: 'p'.repeat(1_000) },
        conditions: Array.from({ length: 100 }, () => ({ type: 'Accepted', status: 'False', message: 'm'.repeat(100_000) })),
      })),
    };
    const slim = slimMeshStatusSchema.parse(raw);
    expect(slim.parents).toHaveLength(32);
    expect(slim.parents?.[0]?.conditions).toHaveLength(16);
    expect(slim.parents?.[0]?.parentRef.name).toHaveLength(253);
    expect(slim.parents?.[0]?.conditions?.[0]?.message).toHaveLength(512);
    expect(JSON.stringify(slim).length).toBeLessThan(400_000);
    expect(notInEffect({ group: G, kind: 'HTTPRoute', status: slim })).toEqual(notInEffect({ group: G, kind: 'HTTPRoute', status: raw }));
  });

  it('never throws: a status that is not an object slims to {}', () => {
    for (const junk of [null, 'x', 1, [], { parents: 'x', conditions: {}, validationMessages: 5, observedGeneration: -1 }])
      expect(slimMeshStatusSchema.parse(junk)).toEqual({});
  });
});
