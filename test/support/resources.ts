/** Creating and reading tokensmith objects in tests. */
import { CoreV1Api, CustomObjectsApi, EventsV1Api } from '@kubernetes/client-node';
import type { JSONWebKeySet } from 'jose';
import type {
  ClusterTokenIssuer,
  ClusterTokenIssuerSpec,
  TokenIssuer,
  TokenIssuerSpec,
  TokenPolicy,
  TokenPolicySpec,
} from '../../src/api/v1alpha1.generated.ts';
import { adminKubeConfig, vaultClient } from './environment.ts';

const G = { group: 'tokensmith.dev', version: 'v1alpha1' };

export function customObjects(): CustomObjectsApi {
  return adminKubeConfig().makeApiClient(CustomObjectsApi);
}

const OWNER_LABEL = 'tokensmith.dev/test-owner';
let issuerOwner: string | undefined;

/** ClusterTokenIssuers created from now on in this test file carry this owner label. */
export function setIssuerOwner(owner: string): void {
  issuerOwner = owner;
}

/** The label selector of a controller that serves only `owner`'s ClusterTokenIssuers. */
export function issuerOwnerSelector(owner: string): string {
  return `${OWNER_LABEL}=${owner}`;
}

/**
 * Creates a ClusterTokenIssuer. Unless `spec.namespaces` says otherwise it serves every namespace
 * (`selector: {}`): test files share the API server, and each controller watches its own.
 */
export async function createClusterIssuer(name: string, spec: ClusterTokenIssuerSpec): Promise<void> {
  const labels = issuerOwner ? { [OWNER_LABEL]: issuerOwner } : undefined;
  spec = { namespaces: { selector: {} }, ...spec };
  await customObjects().createClusterCustomObject({
    ...G,
    plural: 'clustertokenissuers',
    body: {
      apiVersion: 'tokensmith.dev/v1alpha1',
      kind: 'ClusterTokenIssuer',
      metadata: { name, labels },
      spec,
    },
  });
}

/**
 * Creates a ClusterTokenIssuer named `<prefix>-<random>` for `https://tokens.<prefix>.example`,
 * signing with transit at `transitMount` (and whatever `extra` adds, e.g. guardrails), and waits
 * until its key is ready; returns its name.
 */
export async function createReadyClusterIssuer(
  prefix: string,
  transitMount: string,
  extra: Partial<ClusterTokenIssuerSpec> = {},
): Promise<string> {
  const name = `${prefix}-${Math.random().toString(16).slice(2, 10)}`;
  await createClusterIssuer(name, {
    issuer: `https://tokens.${prefix}.example`,
    signing: { transitMount },
    ...extra,
  });
  await waitForIssuer(name, 'True/KeyReady');
  return name;
}

export async function createTokenIssuer(
  namespace: string,
  name: string,
  spec: TokenIssuerSpec,
): Promise<void> {
  await customObjects().createNamespacedCustomObject({
    ...G,
    namespace,
    plural: 'tokenissuers',
    body: { apiVersion: 'tokensmith.dev/v1alpha1', kind: 'TokenIssuer', metadata: { name }, spec },
  });
}

export async function readTokenIssuer(namespace: string, name: string): Promise<TokenIssuer> {
  return (await customObjects().getNamespacedCustomObject({
    ...G,
    namespace,
    plural: 'tokenissuers',
    name,
  })) as TokenIssuer;
}

export async function readClusterIssuer(name: string): Promise<ClusterTokenIssuer> {
  return (await customObjects().getClusterCustomObject({
    ...G,
    plural: 'clustertokenissuers',
    name,
  })) as ClusterTokenIssuer;
}

/** Creates a policy: `(namespace, name, spec)`, or `(namespace, tokenPolicy(...))` (policies.ts). */
export async function createPolicy(namespace: string, policy: TokenPolicy): Promise<void>;
export async function createPolicy(namespace: string, name: string, spec: TokenPolicySpec): Promise<void>;
export async function createPolicy(
  namespace: string,
  nameOrPolicy: string | TokenPolicy,
  spec?: TokenPolicySpec,
): Promise<void> {
  const policy =
    typeof nameOrPolicy === 'string'
      ? { metadata: { name: nameOrPolicy }, spec: spec as TokenPolicySpec }
      : nameOrPolicy;
  await customObjects().createNamespacedCustomObject({
    ...G,
    namespace,
    plural: 'tokenpolicies',
    body: {
      apiVersion: 'tokensmith.dev/v1alpha1',
      kind: 'TokenPolicy',
      metadata: policy.metadata,
      spec: policy.spec,
    },
  });
}

export async function readPolicy(namespace: string, name: string): Promise<TokenPolicy | undefined> {
  try {
    return (await customObjects().getNamespacedCustomObject({
      ...G,
      namespace,
      plural: 'tokenpolicies',
      name,
    })) as TokenPolicy;
  } catch {
    return undefined;
  }
}

export async function deletePolicy(namespace: string, name: string): Promise<void> {
  await customObjects().deleteNamespacedCustomObject({ ...G, namespace, plural: 'tokenpolicies', name });
}

/** Replaces a ClusterTokenIssuer's spec with `edit(spec)`, as `kubectl edit` does. */
export async function editClusterIssuer(
  name: string,
  edit: (spec: ClusterTokenIssuerSpec) => ClusterTokenIssuerSpec,
): Promise<void> {
  const issuer = await readClusterIssuer(name);
  await customObjects().replaceClusterCustomObject({
    ...G,
    plural: 'clustertokenissuers',
    name,
    body: { ...issuer, spec: edit(issuer.spec) },
  });
}

/** `Reason: note` of the Events in `namespace` about the object with `uid`, oldest first. */
export async function eventsAbout(namespace: string, uid: string | undefined): Promise<string[]> {
  const list = await adminKubeConfig().makeApiClient(EventsV1Api).listNamespacedEvent({ namespace });
  return list.items.filter((e) => e.regarding?.uid === uid).map((e) => `${e.reason ?? ''}: ${e.note ?? ''}`);
}

/** Deletes a TokenIssuer (with `namespace`) or a ClusterTokenIssuer (without). */
export async function deleteIssuer(name: string, namespace?: string): Promise<void> {
  if (namespace === undefined) {
    await customObjects().deleteClusterCustomObject({ ...G, plural: 'clustertokenissuers', name });
  } else {
    await customObjects().deleteNamespacedCustomObject({ ...G, namespace, plural: 'tokenissuers', name });
  }
}

/** The Ready condition of a policy as `status/reason`, for polling. */
export async function policyReady(namespace: string, name: string): Promise<string> {
  const policy = await readPolicy(namespace, name);
  const ready = policy?.status?.conditions?.find((c) => c.type === 'Ready');
  return ready ? `${ready.status}/${ready.reason}` : 'none';
}

/**
 * Polls `read` until it returns `expected`; fails with the last value seen. Usable outside tests
 * (in beforeAll), unlike expect.poll.
 */
export async function waitUntil<T>(
  what: string,
  read: () => Promise<T>,
  expected: T,
  timeout = 30_000,
  explain: () => Promise<string> = () => Promise.resolve(''),
): Promise<void> {
  const deadline = Date.now() + timeout;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await read();
    if (last === expected) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(
    `${what}: expected ${String(expected)}, still ${String(last)} after ${timeout / 1000}s ${await explain()}`,
  );
}

/** Waits for the policy's Ready condition to read `expected` (e.g. `True/Issued`). */
export async function waitForPolicy(
  namespace: string,
  name: string,
  expected: string,
  timeout = 30_000,
): Promise<TokenPolicy> {
  await waitUntil(
    `TokenPolicy ${namespace}/${name} Ready`,
    () => policyReady(namespace, name),
    expected,
    timeout,
    async () => JSON.stringify((await readPolicy(namespace, name))?.status?.conditions),
  );
  const policy = await readPolicy(namespace, name);
  if (!policy) throw new Error(`TokenPolicy ${namespace}/${name} disappeared`);
  return policy;
}

/** Waits for a ClusterTokenIssuer's Ready condition to read `expected`, or a TokenIssuer's with `namespace`. */
export async function waitForIssuer(
  name: string,
  expected: string,
  timeout = 30_000,
  namespace?: string,
): Promise<ClusterTokenIssuer | TokenIssuer> {
  const read = () => (namespace === undefined ? readClusterIssuer(name) : readTokenIssuer(namespace, name));
  const readiness = async () => {
    const ready = (await read()).status?.conditions?.find((c) => c.type === 'Ready');
    return ready ? `${ready.status}/${ready.reason}` : 'none';
  };
  await waitUntil(`issuer ${namespace ?? ''}/${name} Ready`, readiness, expected, timeout, async () =>
    JSON.stringify((await read()).status?.conditions),
  );
  return read();
}

/** A Secret's data, decoded; undefined if it does not exist. */
export async function secretData(
  namespace: string,
  name: string,
): Promise<Record<string, string> | undefined> {
  try {
    const secret = await adminKubeConfig().makeApiClient(CoreV1Api).readNamespacedSecret({ namespace, name });
    return Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    );
  } catch {
    return undefined;
  }
}

/**
 * Merges annotations into a tokensmith object, as `kubectl annotate --overwrite` does (retrying
 * when the controller wrote the object in between).
 */
export async function annotateObject(
  target: {
    plural: 'tokenpolicies' | 'tokenissuers' | 'clustertokenissuers';
    namespace?: string;
    name: string;
  },
  annotations: Record<string, string>,
): Promise<void> {
  const { plural, namespace, name } = target;
  for (let attempt = 0; ; attempt++) {
    const object = (await (namespace === undefined
      ? customObjects().getClusterCustomObject({ ...G, plural, name })
      : customObjects().getNamespacedCustomObject({ ...G, plural, namespace, name }))) as {
      metadata?: { annotations?: Record<string, string> };
    };
    const metadata = object.metadata ?? {};
    metadata.annotations = { ...metadata.annotations, ...annotations };
    object.metadata = metadata;
    try {
      await (namespace === undefined
        ? customObjects().replaceClusterCustomObject({ ...G, plural, name, body: object })
        : customObjects().replaceNamespacedCustomObject({ ...G, plural, namespace, name, body: object }));
      return;
    } catch (err) {
      if ((err as { code?: number }).code !== 409 || attempt >= 5) throw err;
    }
  }
}

/** The JWKS where an issuer's status says it is published: the ConfigMap and the Vault copy. */
export async function publishedJwks(
  issuer: TokenIssuer | ClusterTokenIssuer,
): Promise<{ configMap: JSONWebKeySet; vault: JSONWebKeySet }> {
  const where = issuer.status?.jwks;
  const cm = await adminKubeConfig()
    .makeApiClient(CoreV1Api)
    .readNamespacedConfigMap({
      namespace: where?.configMap?.namespace ?? '',
      name: where?.configMap?.name ?? '',
    });
  const copy = (await vaultClient().read(where?.vaultPath ?? '')) as { data: { data: { jwks: string } } };
  return {
    configMap: JSON.parse(cm.data?.[where?.configMap?.key ?? ''] ?? '{}') as JSONWebKeySet,
    vault: JSON.parse(copy.data.data.jwks) as JSONWebKeySet,
  };
}
