/**
 * House rules of the CRDs in crds/ that the API server does not enforce: every field is described
 * (so `kubectl explain` helps), defaults are values the schema accepts, the two issuer kinds accept
 * the same spec, and every kind is in the tokensmith category with a status subresource.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  CRD_DIR,
  forEachProperty,
  readCrdSchemas,
  withoutDescriptions,
  type CrdSchema,
} from '../../../scripts/generate-api-types.ts';

const schemas = readCrdSchemas();
const kinds = ['TokenPolicy', 'TokenIssuer', 'ClusterTokenIssuer'];

function schemaOf(kind: string): CrdSchema {
  const found = schemas.get(kind);
  if (!found) throw new Error(`no CRD for ${kind}`);
  return found.schema;
}

describe.each(kinds)('the %s CRD', (kind) => {
  it('describes every property (metadata is described by Kubernetes)', () => {
    const undescribed: string[] = [];
    forEachProperty(schemaOf(kind), (path, property) => {
      if (path === 'metadata') return;
      if (!property.description?.trim()) undescribed.push(path);
    });
    expect(undescribed).toEqual([]);
  });

  it('has defaults that its enums accept', () => {
    const wrong: string[] = [];
    forEachProperty(schemaOf(kind), (path, property) => {
      if (property.default !== undefined && property.enum && !property.enum.includes(property.default)) {
        wrong.push(path);
      }
    });
    expect(wrong).toEqual([]);
  });

  it('gives every CEL rule a message for people', () => {
    const silent: string[] = [];
    const visit = (path: string, node: CrdSchema) => {
      const rules = (node['x-kubernetes-validations'] ?? []) as { rule: string; message?: string }[];
      for (const rule of rules) if (!rule.message?.trim()) silent.push(`${path}: ${rule.rule}`);
    };
    visit('(root)', schemaOf(kind));
    forEachProperty(schemaOf(kind), visit);
    expect(silent).toEqual([]);
  });
});

describe('the CRD files', () => {
  const crds = readdirSync(CRD_DIR)
    .filter((name) => name.startsWith('tokensmith.dev_') && name.endsWith('.yaml'))
    .map(
      (name) =>
        parse(readFileSync(join(CRD_DIR, name), 'utf8')) as {
          spec: {
            group: string;
            names: { kind: string; categories?: string[] };
            versions: { name: string; subresources?: { status?: object } }[];
          };
        },
    );

  it('define the three kinds of tokensmith.dev/v1alpha1, each with a status subresource', () => {
    expect(crds.map((crd) => crd.spec.names.kind).sort()).toEqual([...kinds].sort());
    for (const crd of crds) {
      expect(crd.spec.group).toBe('tokensmith.dev');
      expect(crd.spec.names.categories).toEqual(['tokensmith']);
      expect(crd.spec.versions.map((v) => v.name)).toEqual(['v1alpha1']);
      expect(crd.spec.versions[0]?.subresources?.status).toEqual({});
    }
  });

  it('give TokenIssuer and ClusterTokenIssuer specs and statuses of the same shape, but spec.namespaces', () => {
    for (const part of ['spec', 'status']) {
      const namespaced = schemaOf('TokenIssuer').properties?.[part];
      const cluster = structuredClone(schemaOf('ClusterTokenIssuer').properties?.[part]);
      // Which namespaces it serves is a question for a cluster-scoped issuer only.
      if (part === 'spec') {
        expect(cluster?.properties?.namespaces).toBeDefined();
        delete cluster?.properties?.namespaces;
      }
      expect(namespaced && withoutDescriptions(namespaced)).toEqual(cluster && withoutDescriptions(cluster));
    }
  });
});
