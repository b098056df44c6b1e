import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A self-signed certificate for 127.0.0.1 (openssl CLI), in a fresh directory. */
export function selfSignedCert(
  dir = mkdtempSync(join(tmpdir(), 'meshdrift-admission-')),
  cn = 'meshdrift-admission',
): { dir: string; certFile: string; keyFile: string; cert: Buffer } {
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-subj',
      `/CN=${cn}`,
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  return { dir, certFile, keyFile, cert: readFileSync(certFile) };
}

export interface AdmissionAnswer {
  status: number;
  body: string;
  json: unknown;
  /** The certificate the listener presented (its SHA-256 fingerprint). */
  fingerprint: string;
}

/** POSTs a body to the admission listener over HTTPS, trusting `ca` only (as the API server trusts the caBundle). */
export function postAdmission(url: string, body: unknown, ca: Buffer, path = '/admission'): Promise<AdmissionAnswer> {
  const raw = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method: 'POST', ca, headers: { 'content-type': 'application/json' }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      const fingerprint = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().fingerprint256 ?? '';
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body: text, json, fingerprint });
      });
    });
    req.on('error', reject);
    req.end(raw);
  });
}

type Json = Record<string, unknown>;

export interface ReviewInput {
  uid?: string;
  operation: 'CREATE' | 'UPDATE' | 'DELETE';
  username?: string;
  groups?: string[];
  object?: Json | null;
  oldObject?: Json | null;
  dryRun?: boolean;
  fieldManager?: string;
  group?: string;
  version?: string;
  kind?: string;
  resource?: string;
}

let seq = 0;

/** An AdmissionReview as kube-apiserver sends it (admission.k8s.io/v1, request.uid first). */
export function review(input: ReviewInput): Json {
  const obj = (input.object ?? input.oldObject ?? {}) as { metadata?: { name?: string; namespace?: string } };
  const group = input.group ?? 'networking.istio.io';
  const version = input.version ?? 'v1';
  const kind = input.kind ?? 'VirtualService';
  const resource = input.resource ?? 'virtualservices';
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: input.uid ?? `705ab4f5-6393-11e8-b7cc-42010a80${String(++seq).padStart(4, '0')}`,
      kind: { group, version, kind },
      resource: { group, version, resource },
      requestKind: { group, version, kind },
      requestResource: { group, version, resource },
      name: obj.metadata?.name ?? '',
      namespace: obj.metadata?.namespace ?? '',
      operation: input.operation,
      userInfo: {
        username: input.username ?? 'alice@corp',
        uid: 'u-42',
        groups: input.groups ?? ['system:authenticated', 'mesh-admins'],
        extra: { 'scopes.example': ['a'] },
      },
      object: input.operation === 'DELETE' ? null : (input.object ?? null),
      oldObject: input.operation === 'CREATE' ? null : (input.oldObject ?? null),
      dryRun: input.dryRun ?? false,
      options: {
        kind: input.operation === 'CREATE' ? 'CreateOptions' : input.operation === 'UPDATE' ? 'UpdateOptions' : 'DeleteOptions',
        apiVersion: 'meta.k8s.io/v1',
        ...(input.fieldManager === undefined ? {} : { fieldManager: input.fieldManager }),
      },
    },
  };
}

/** The Argo CD-managed VirtualService payments/payments of the shared mesh-app fixture, at a weight. */
export function paymentsVs(weight: number, resourceVersion: string, extra: Json = {}): Json {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: {
      name: 'payments',
      namespace: 'payments',
      uid: '9c1d7e0a-0000-4000-8000-00000000a11c',
      resourceVersion,
      generation: 3,
      annotations: { 'argocd.argoproj.io/tracking-id': 'payments-mesh:networking.istio.io/VirtualService:payments/payments' },
      managedFields: [{ manager: 'argocd-controller', operation: 'Apply', apiVersion: 'networking.istio.io/v1', fieldsType: 'FieldsV1', fieldsV1: {} }],
    },
    spec: {
      hosts: ['payments'],
      http: [
        {
          route: [
            { destination: { host: 'payments', subset: 'v1' }, weight: 100 - weight },
            { destination: { host: 'payments', subset: 'v2' }, weight },
          ],
        },
      ],
      ...extra,
    },
  };
}
