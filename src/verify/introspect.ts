/**
 * RFC 7662 introspection, per issuer: `POST <issuer base>/introspect` with a form body (`token`,
 * optional `token_type_hint`). The caller authenticates with a service-account token minted for
 * tokensmith's audience (401 and WWW-Authenticate otherwise), is rate limited per identity (429),
 * and must be a consumer of the token's policy (spec.consumers; unset: the policy's own
 * namespace). Anything else — unknown, expired, not yet valid, revoked, of a deleted policy, or a
 * token the caller may not see — is `{"active": false}` and nothing more. Lookups go through the
 * issuer's hash index, never plaintext; what Vault said about a token is cached per replica
 * (bounded), dropped at once when its policy changes (its status records every revocation) and
 * after TOKEN_FACTS_TTL_MS at most, which bounds how stale a replica can be while the API server
 * is unreachable. Every request leaves one audit log line: caller, fingerprint, answer.
 */
import type { TokenPolicy } from '../api/v1alpha1.generated.ts';
import { fingerprintOfHash, tokenHash } from '../core/fingerprint.ts';
import type {
  PolicyTokenRecord,
  TokenIndexEntry,
  TokenIndexKind,
  TokenVersionRecord,
} from '../core/records.ts';
import type { AnyIssuer } from '../issuers/identity.ts';
import type { CallerAuthenticator, Caller } from '../kube/tokenReview.ts';
import type { Logger } from '../log.ts';
import type { Clock, ObjectKey, TokenStore } from '../ports.ts';
import { TokenBuckets } from '../util/rateLimiter.ts';
import { belongsTo, isConsumer, liveToken, notLiveSignal, overlapOf } from './tokenFacts.ts';
import type { UsageMonitor } from './usage.ts';
import { withRequestGroup } from '../util/requestGroup.ts';
import { json as jsonAnswer, type Answer, type VerifyRequest } from './server.ts';
import { safeErrorFields } from '../errors.ts';

/** How long what Vault said about a token is trusted without a change of its policy. */
export const TOKEN_FACTS_TTL_MS = 10_000;
const MAX_CACHED = 50_000;

/** What Vault records about one presented token (never the token itself). */
interface TokenFacts {
  policy: ObjectKey;
  policyUid: string;
  kind: TokenIndexKind;
  /** The token's sha256 (finds a grant's token in the version). */
  hash: string;
  version: TokenVersionRecord;
}

export interface IntrospectionDeps {
  clock: Clock;
  log: Logger;
  /** Where the audit lines go (log.ts auditLogger); default `log`. */
  auditLog?: Logger;
  /** Where what is presented is reported (usage.ts). */
  usage?: UsageMonitor;
  callers: CallerAuthenticator;
  /** A policy from the caches; undefined once it is deleted. */
  policy(key: ObjectKey): TokenPolicy | undefined;
  /** The issuer's token store. */
  store(issuer: AnyIssuer): Promise<TokenStore>;
  /** Requests per second per caller (burst: twice that). Default 50. */
  callerQps?: number;
  /**
   * Lookups in Vault (cache misses) per second per caller (burst: twice that). Default 100: a caller
   * presenting a stream of made-up tokens gets 429 rather than turning each into Vault reads.
   */
  callerMissQps?: number;
}

/** Introspection answers are about one caller's token: never stored by a cache on the way. */
const json = (status: number, value: unknown, headers: Record<string, string> = {}): Answer =>
  jsonAnswer(status, value, { 'cache-control': 'no-store', ...headers });
const INACTIVE = json(200, { active: false });

export class Introspection {
  private readonly deps: IntrospectionDeps;
  private readonly facts = new Map<string, { facts: TokenFacts | undefined; until: number }>();
  private readonly byPolicy = new Map<string, Set<string>>();
  private readonly perCaller: TokenBuckets;
  private readonly missesPerCaller: TokenBuckets;
  /** Lookups answered from the cache, and those that read Vault (index and record). */
  readonly counts = { hits: 0, misses: 0, vaultReads: 0 };

  constructor(deps: IntrospectionDeps) {
    this.deps = deps;
    const qps = deps.callerQps ?? 50;
    this.perCaller = new TokenBuckets({ qps, burst: Math.ceil(qps * 2), clock: deps.clock });
    const missQps = deps.callerMissQps ?? 100;
    this.missesPerCaller = new TokenBuckets({
      qps: missQps,
      burst: Math.ceil(missQps * 2),
      clock: deps.clock,
    });
  }

  /** Drops what is cached about a policy's tokens (it changed: maybe a revocation). */
  policyChanged(policy: ObjectKey): void {
    const key = `${policy.namespace}/${policy.name}`;
    for (const cacheKey of this.byPolicy.get(key) ?? []) this.facts.delete(cacheKey);
    this.byPolicy.delete(key);
  }

  async handle(issuer: AnyIssuer, request: VerifyRequest): Promise<Answer> {
    if (request.method !== 'POST') return json(405, { error: 'invalid_request' }, { allow: 'POST' });
    const bearer = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1];
    let caller: Caller | undefined;
    try {
      caller = bearer === undefined ? undefined : await this.deps.callers.authenticate(bearer);
    } catch (err) {
      // The TokenReview itself failed (API server down, or tokensmith may not create TokenReviews).
      this.deps.log.warn(
        { err: safeErrorFields(err) },
        'introspection: could not check the caller (TokenReview failed)',
      );
      return json(503, { error: 'temporarily_unavailable' }, { 'retry-after': '5' });
    }
    if (!caller) {
      this.audit(undefined, undefined, 'unauthenticated');
      return json(
        401,
        { error: 'invalid_token' },
        { 'www-authenticate': 'Bearer realm="tokensmith", error="invalid_token"' },
      );
    }
    if (!this.perCaller.tryAcquire(caller.username)) {
      this.audit(caller, undefined, 'rate-limited');
      return json(429, { error: 'slow_down' }, { 'retry-after': '1' });
    }
    if (!(request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      return json(400, {
        error: 'invalid_request',
        error_description: 'send application/x-www-form-urlencoded',
      });
    }
    const token = new URLSearchParams(request.body).get('token');
    if (!token)
      return json(400, { error: 'invalid_request', error_description: 'the token parameter is missing' });
    const hash = tokenHash(token);
    const cached = this.cached(issuer, hash);
    if (cached === 'miss' && !this.missesPerCaller.tryAcquire(caller.username)) {
      this.audit(caller, fingerprintOfHash(hash), 'miss-limited');
      return json(
        429,
        { error: 'slow_down', error_description: 'too many tokens tokensmith has not seen' },
        { 'retry-after': '1' },
      );
    }
    const facts =
      cached === 'miss' || cached === 'expired'
        ? // Vault's limiter lets request groups take turns: revalidating tokens already seen is one
          // group, each caller's tokens never seen another, so a stream of made-up tokens from one
          // caller delays neither the real tokens it is mixed with nor another caller's.
          await withRequestGroup(
            cached === 'expired' ? 'introspection:revalidate' : `introspection:new:${caller.username}`,
            () =>
              this.lookup(issuer, hash, cached === 'expired' ? this.expiredFacts(issuer, hash) : undefined),
          )
        : cached.facts;
    const answer = facts ? this.answer(issuer, caller, facts) : undefined;
    if (!facts) this.deps.usage?.unknownToken(issuer, caller.username);
    this.audit(caller, fingerprintOfHash(hash), answer ? 'active' : 'inactive', facts);
    return answer ? json(200, answer) : INACTIVE;
  }

  /** What an expired cache entry knew about a token (undefined: it was unknown then). */
  private expiredFacts(issuer: AnyIssuer, hash: string): TokenFacts | undefined {
    return this.facts.get(`${issuer.metadata?.uid ?? ''}/${hash}`)?.facts;
  }

  /** What the cache holds about a token; 'expired' when it held something too old to trust. */
  private cached(issuer: AnyIssuer, hash: string): { facts: TokenFacts | undefined } | 'miss' | 'expired' {
    const entry = this.facts.get(`${issuer.metadata?.uid ?? ''}/${hash}`);
    if (!entry) return 'miss';
    if (entry.until <= this.deps.clock.now().getTime()) return 'expired';
    this.counts.hits += 1;
    return { facts: entry.facts };
  }

  /**
   * What Vault says about a token: through the index for one never seen, and for one seen before
   * (`known`: its policy and version) straight from its policy's record, one read instead of two.
   */
  private async lookup(issuer: AnyIssuer, hash: string, known?: TokenFacts): Promise<TokenFacts | undefined> {
    const cacheKey = `${issuer.metadata?.uid ?? ''}/${hash}`;
    const now = this.deps.clock.now().getTime();
    this.counts.misses += 1;
    const store = await this.deps.store(issuer);
    let entry: TokenIndexEntry | undefined;
    if (known) {
      entry = { ...known.policy, version: known.version.version, kind: known.kind };
    } else {
      this.counts.vaultReads += 1;
      entry = await store.getIndex(hash);
    }
    let facts: TokenFacts | undefined;
    if (entry) {
      const policy = { namespace: entry.namespace, name: entry.name };
      this.counts.vaultReads += 1;
      const record: PolicyTokenRecord | undefined = (await store.read(policy))?.value;
      const version = record?.versions.find((v) => v.version === entry.version);
      if (record && version && belongsTo(version, entry.kind, hash))
        facts = { policy, policyUid: record.policy.uid, kind: entry.kind, hash, version };
    }
    if (this.facts.size >= MAX_CACHED) this.facts.delete(this.facts.keys().next().value ?? '');
    // Up to a fifth sooner than the TTL, at random, so tokens first seen together are not all
    // read again at the same moment.
    this.facts.set(cacheKey, { facts, until: now + TOKEN_FACTS_TTL_MS * (1 - Math.random() / 5) });
    if (facts) {
      const key = `${facts.policy.namespace}/${facts.policy.name}`;
      let keys = this.byPolicy.get(key);
      if (!keys) this.byPolicy.set(key, (keys = new Set()));
      keys.add(cacheKey);
    }
    return facts;
  }

  /** The active answer, or undefined when the token is not live or the caller may not see it. */
  private answer(issuer: AnyIssuer, caller: Caller, facts: TokenFacts): Record<string, unknown> | undefined {
    const policy = this.deps.policy(facts.policy);
    if (!policy || policy.metadata?.uid !== facts.policyUid || policy.metadata.deletionTimestamp)
      return undefined;
    const v = facts.version;
    const fingerprint = fingerprintOfHash(facts.hash);
    if (!isConsumer(policy, caller)) {
      this.deps.usage?.signal(policy, 'NotAConsumer', caller.username, fingerprint, v.version);
      return undefined;
    }
    const now = this.deps.clock.now();
    const live = liveToken(v, facts.kind, facts.hash, now);
    if (!live) {
      const signal = notLiveSignal(v, facts.kind, facts.hash, now);
      if (signal) this.deps.usage?.signal(policy, signal, caller.username, fingerprint, v.version);
      return undefined;
    }
    this.deps.usage?.presented(
      policy,
      v,
      caller.username,
      fingerprint,
      v.state === 'retiring' ? overlapOf(policy) : 0,
    );
    const seconds = (ms: number) => Math.floor(ms / 1000);
    return {
      active: true,
      // RFC 7662 token_type is RFC 6749's (how it is presented); token_use says which of the two.
      ...(live.use === 'access_token' ? { token_type: 'Bearer' } : {}),
      token_use: live.use,
      scope: live.scopes.join(' '),
      exp: seconds(live.exp),
      iat: seconds(live.iat),
      nbf: seconds(live.iat),
      iss: issuer.spec.issuer,
      ...(v.subject !== undefined ? { sub: v.subject } : {}),
      ...(v.audience !== undefined ? { aud: v.audience } : {}),
      ...(live.jti !== undefined ? { jti: live.jti } : {}),
      policy: `${facts.policy.namespace}/${facts.policy.name}`,
      version: v.version,
      fingerprint: live.fingerprint,
    };
  }

  private audit(
    caller: Caller | undefined,
    print: string | undefined,
    answer: string,
    facts?: TokenFacts,
  ): void {
    (this.deps.auditLog ?? this.deps.log).info(
      {
        audit: 'introspect',
        caller: caller?.username,
        ...(print ? { fingerprint: print } : {}),
        ...(facts
          ? { policy: `${facts.policy.namespace}/${facts.policy.name}`, version: facts.version.version }
          : {}),
        answer,
      },
      'introspection',
    );
  }
}
