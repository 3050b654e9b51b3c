/**
 * The token endpoint (RFC 6749 §6): `POST <issuer base>/token` with `grant_type=refresh_token` and
 * `refresh_token=…`. The client authenticates with its service-account token (audience
 * `tokensmith`, checked with a TokenReview like introspection) and must be a consumer of the
 * policy (spec.consumers; unset: its own namespace) — the same rule as introspection, so "who may
 * use this policy's tokens" is said once. The answer carries a new access token of the policy's
 * shape (scopes only ever narrowed, by an optional `scope`) and the next refresh token; the one
 * presented is spent. Decisions are core/grants.ts; this file does the I/O:
 *
 *   1. look the refresh token up in the issuer's index (sha256), read its policy's record;
 *   2. decide (exchange, retry of a lost answer, replay, invalid);
 *   3. exchange: mint both tokens, index them, then record them in the version's grant with one
 *      check-and-set write — only then answer. A crash before the write leaves index entries
 *      for tokens nobody holds (harmless: they match nothing); after it, the caller may retry once
 *      within the grace (core/grants.ts);
 *   4. replay: revoke the grant in the record, then a Warning Event RefreshTokenReplayed on the
 *      policy and the tokensmith.dev/grant-revoked annotation, which makes every replica drop
 *      what it cached about the policy's tokens and the controller act on spec.onSuspiciousUse.
 *
 * Two exchanges of one refresh token at once (on two replicas) race on the check-and-set: one
 * write wins; the loser re-reads, finds the token spent by the winner, and answers invalid_grant
 * as a **conflict** — without revoking anything, since it cannot tell a double submission from an
 * attack. The same caller presenting it again within a second of the spend is a conflict too
 * (core/grants.ts); from another caller it is a replay, and so is any later presentation (but the
 * one retry of a lost answer). Errors are RFC 6749
 * §5.2 JSON: never a stack, a Vault body or a token.
 */
import type { TokenPolicy } from '../api/v1alpha1.generated.ts';
import { ANNOTATION } from '../api/constants.ts';
import { fingerprintOfHash, tokenHash } from '../core/fingerprint.ts';
import { decideExchange, withReplay } from '../core/grants.ts';
import type { PolicyTokenRecord, TokenVersionRecord } from '../core/records.ts';
import type { PolicySettings } from '../core/settings.ts';
import type { EventSink } from '../controllers/tokenPolicy/ports.ts';
import { TokensmithError, safeErrorFields } from '../errors.ts';
import type { AnyIssuer } from '../issuers/identity.ts';
import type { ResolvedIssuer } from '../issuers/resolved.ts';
import type { Caller, CallerAuthenticator } from '../kube/tokenReview.ts';
import type { RandomBytes } from '../core/opaque.ts';
import type { Logger } from '../log.ts';
import type { Clock, ObjectKey, TokenStore } from '../ports.ts';
import { TokenBuckets } from '../util/rateLimiter.ts';
import { isConsumer } from './tokenFacts.ts';
import { holds, issuePair, narrowedScopes, withVersion } from './exchange.ts';
import type { UsageMonitor } from './usage.ts';
import { json as jsonAnswer, type Answer, type VerifyRequest } from './server.ts';

/** How often a lost check-and-set race with another writer (not an exchange) is tried again. */
const ATTEMPTS = 3;

/** A policy's issuer and settings, as its reconciler resolves them. */
export interface PolicyIssuer {
  settings: PolicySettings;
  issuer: ResolvedIssuer;
  /** Why no token may be minted now (issuer not ready, a guardrail), if so. */
  blocked?: TokensmithError;
}

export interface TokenEndpointDeps {
  clock: Clock;
  log: Logger;
  auditLog?: Logger;
  callers: CallerAuthenticator;
  random: RandomBytes;
  /** A policy from the caches; undefined once it is deleted. */
  policy(key: ObjectKey): TokenPolicy | undefined;
  /** The issuer's token store (to find the refresh token in its index). */
  store(issuer: AnyIssuer): Promise<TokenStore>;
  /** The policy's settings and resolved issuer (signing, guardrails). */
  resolve(policy: TokenPolicy): Promise<PolicyIssuer>;
  events: EventSink;
  /** Merges annotations into the policy (the replay notice). */
  annotate(policy: TokenPolicy, annotations: Record<string, string>): Promise<void>;
  /** Exchanges per second per caller (burst twice that). */
  callerQps: number;
  /** Where what is presented is reported (usage.ts). */
  usage?: UsageMonitor;
  /** For crash-safety tests: called right after an exchange is recorded, before the answer. */
  afterRecorded?: () => void;
}

/** RFC 6749 answers are never cached. */
const json = (status: number, value: unknown, headers: Record<string, string> = {}): Answer =>
  jsonAnswer(status, value, { 'cache-control': 'no-store', pragma: 'no-cache', ...headers });
const error = (status: number, code: string, description: string, headers?: Record<string, string>) =>
  json(status, { error: code, error_description: description }, headers);

/** What one request came to, for the audit line. */
interface Outcome {
  answer: Answer;
  audit: Record<string, unknown>;
}

export class TokenEndpoint {
  private readonly deps: TokenEndpointDeps;
  private readonly perCaller: TokenBuckets;

  constructor(deps: TokenEndpointDeps) {
    this.deps = deps;
    this.perCaller = new TokenBuckets({
      qps: deps.callerQps,
      burst: Math.ceil(deps.callerQps * 2),
      clock: deps.clock,
    });
  }

  async handle(issuer: AnyIssuer, request: VerifyRequest): Promise<Answer> {
    let outcome: Outcome;
    try {
      outcome = await this.exchange(issuer, request);
    } catch (err) {
      this.deps.log.warn({ err: safeErrorFields(err) }, 'token endpoint: the exchange failed');
      outcome = {
        answer: error(
          503,
          'temporarily_unavailable',
          'tokensmith could not complete the exchange; try again',
        ),
        audit: { answer: 'error' },
      };
    }
    (this.deps.auditLog ?? this.deps.log).info({ audit: 'token', ...outcome.audit }, 'token exchange');
    return outcome.answer;
  }

  private async exchange(issuer: AnyIssuer, request: VerifyRequest): Promise<Outcome> {
    if (request.method !== 'POST') {
      return {
        answer: json(405, { error: 'invalid_request' }, { allow: 'POST' }),
        audit: { answer: 'method' },
      };
    }
    const bearer = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1];
    const caller = bearer === undefined ? undefined : await this.deps.callers.authenticate(bearer);
    if (!caller) {
      return {
        answer: error(401, 'invalid_client', 'present a service-account token for audience tokensmith', {
          'www-authenticate': 'Bearer realm="tokensmith", error="invalid_token"',
        }),
        audit: { answer: 'unauthenticated' },
      };
    }
    const who = { caller: caller.username };
    if (!this.perCaller.tryAcquire(caller.username)) {
      return {
        answer: error(429, 'slow_down', 'too many exchanges from this caller', { 'retry-after': '1' }),
        audit: { ...who, answer: 'rate-limited' },
      };
    }
    if (!(request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      return {
        answer: error(400, 'invalid_request', 'send application/x-www-form-urlencoded'),
        audit: { ...who, answer: 'invalid_request' },
      };
    }
    const form = new URLSearchParams(request.body);
    if (form.get('grant_type') !== 'refresh_token') {
      return {
        answer: error(400, 'unsupported_grant_type', 'only grant_type=refresh_token is supported'),
        audit: { ...who, answer: 'unsupported_grant_type' },
      };
    }
    const presented = form.get('refresh_token');
    if (!presented) {
      return {
        answer: error(400, 'invalid_request', 'the refresh_token parameter is missing'),
        audit: { ...who, answer: 'invalid_request' },
      };
    }
    const hash = tokenHash(presented);
    const seen = { ...who, fingerprint: fingerprintOfHash(hash) };
    const invalid = (why: string, audit: Record<string, unknown> = {}): Outcome => ({
      answer: error(400, 'invalid_grant', why),
      audit: { ...seen, answer: 'invalid_grant', ...audit },
    });
    const store = await this.deps.store(issuer);
    const entry = await store.getIndex(hash);
    if (!entry || (entry.kind !== 'refreshToken' && entry.kind !== 'grantRefreshToken')) {
      return invalid('the refresh token is not known', { why: 'unknown' });
    }
    const key = { namespace: entry.namespace, name: entry.name };
    const policy = this.deps.policy(key);
    const where = { ...seen, policy: `${key.namespace}/${key.name}`, version: entry.version };
    if (!policy || policy.metadata?.deletionTimestamp)
      return invalid('the refresh token is not known', { ...where, why: 'no policy' });
    // Not a consumer: the same answer as for an unknown token.
    if (!isConsumer(policy, caller))
      return invalid('the refresh token is not known', { ...where, why: 'not a consumer' });
    const scope = form.get('scope');

    for (let attempt = 1; ; attempt++) {
      const stored = await store.read(key);
      const version = stored?.value.versions.find((v) => v.version === entry.version);
      if (
        !stored ||
        !version ||
        stored.value.policy.uid !== policy.metadata?.uid ||
        !holds(version, entry, hash)
      ) {
        return invalid('the refresh token is not known', { ...where, why: 'not recorded' });
      }
      const decision = decideExchange({ version, hash, caller: caller.username, now: this.deps.clock.now() });
      if (decision.kind === 'invalid') {
        const signal = decision.why.includes('expired') ? 'ExpiredTokenPresented' : 'RevokedTokenPresented';
        this.deps.usage?.signal(policy, signal, caller.username, seen.fingerprint, entry.version);
        return invalid(decision.why, { ...where, why: decision.why });
      }
      if (decision.kind === 'conflict') {
        return invalid('the refresh token was redeemed by another request at the same moment', {
          ...where,
          why: 'conflict',
        });
      }
      if (decision.kind === 'replay') {
        this.deps.usage?.signal(
          policy,
          'RefreshTokenReplayed',
          caller.username,
          seen.fingerprint,
          entry.version,
        );
        const done = await this.replay(store, stored, version, policy, caller, where);
        if (done === 'conflict') {
          if (attempt < ATTEMPTS) continue;
          throw new TokensmithError('VaultConflict', 'the record kept changing while a replay was recorded');
        }
        return invalid('the refresh token was already used: every token of its grant is revoked', {
          ...where,
          why: 'replayed',
          ...(decision.spentBy ? { spentBy: decision.spentBy } : {}),
        });
      }
      const resolved = await this.deps.resolve(policy);
      if (resolved.blocked) {
        if (resolved.blocked.retryable) {
          return {
            answer: error(503, 'temporarily_unavailable', resolved.blocked.message, { 'retry-after': '5' }),
            audit: { ...where, answer: 'unavailable' },
          };
        }
        return invalid(resolved.blocked.message, { ...where, why: resolved.blocked.reason });
      }
      const scopes = narrowedScopes(scope, version, resolved.settings);
      if (scopes === undefined) {
        return {
          answer: error(400, 'invalid_scope', 'scope may only name scopes the refresh token was issued with'),
          audit: { ...where, answer: 'invalid_scope' },
        };
      }
      const result = await issuePair(
        this.deps,
        store,
        stored,
        version,
        decision,
        scopes,
        resolved,
        caller,
        key,
      );
      if (result === 'conflict') {
        // Another writer came first: a concurrent exchange of the same token (it is spent now:
        // answered as a conflict, below), or an unrelated write (try again).
        const again = (await store.read(key))?.value.versions.find((v) => v.version === entry.version);
        const now = again
          ? decideExchange({ version: again, hash, caller: caller.username, now: this.deps.clock.now() })
          : undefined;
        if (now?.kind === 'exchange' && attempt < ATTEMPTS) continue;
        return invalid('the refresh token was redeemed by another request at the same moment', {
          ...where,
          why: 'conflict',
        });
      }
      this.deps.afterRecorded?.();
      this.deps.usage?.presented(
        policy,
        version,
        caller.username,
        seen.fingerprint,
        resolved.settings.overlapMs,
      );
      // A retry revoked the pair of the lost answer: other replicas may have cached it as live.
      if (decision.kind === 'retry') await this.notify(policy, version.version);
      return {
        answer: json(200, {
          access_token: result.accessToken,
          token_type: 'Bearer',
          expires_in: result.expiresIn,
          scope: scopes.join(' '),
          refresh_token: result.refreshToken,
        }),
        audit: {
          ...where,
          answer: decision.kind === 'retry' ? 'exchanged-again' : 'exchanged',
          issued: result.fingerprint,
        },
      };
    }
  }

  /**
   * Tells every replica that tokens of the policy's grant were revoked (through the policy watch:
   * they drop what they cached) and the controller to look at the record (spec.onSuspiciousUse).
   */
  private async notify(policy: TokenPolicy, version: number): Promise<void> {
    await this.deps.annotate(policy, {
      [ANNOTATION.grantRevoked]: `${version}@${this.deps.clock.now().toISOString()}`,
    });
  }

  /** Revokes the grant and tells the cluster; 'conflict' when another writer came first. */
  private async replay(
    store: TokenStore,
    stored: { value: PolicyTokenRecord; casVersion: number },
    version: TokenVersionRecord,
    policy: TokenPolicy,
    caller: Caller,
    where: { fingerprint: string; version: number },
  ): Promise<'done' | 'conflict'> {
    const key = { namespace: policy.metadata?.namespace ?? '', name: policy.metadata?.name ?? '' };
    const now = this.deps.clock.now();
    if (!version.grant?.revokedAt) {
      const next = withReplay(version, { by: caller.username, fingerprint: where.fingerprint }, now);
      try {
        await store.write(key, withVersion(stored.value, next), stored.casVersion);
      } catch (err) {
        if (err instanceof TokensmithError && err.code === 'VaultConflict') return 'conflict';
        throw err;
      }
    }
    const response =
      policy.spec.onSuspiciousUse === 'revoke'
        ? 'the current token is replaced and revoked (onSuspiciousUse: revoke)'
        : 'set spec.onSuspiciousUse: revoke to replace the current token as well';
    this.deps.events.record(policy, {
      type: 'Warning',
      reason: 'RefreshTokenReplayed',
      action: 'RevokeGrant',
      note: `refresh token ${where.fingerprint} of version ${where.version} was presented again by ${caller.username} after it was redeemed: every token its grant issued is revoked; ${response}`,
    });
    await this.notify(policy, where.version);
    return 'done';
  }
}
