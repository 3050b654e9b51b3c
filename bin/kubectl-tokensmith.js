#!/usr/bin/env node
// kubectl-tokensmith: a kubectl plugin (put it on PATH as `kubectl-tokensmith`, then run
// `kubectl tokensmith …`). It sets tokensmith's request annotations and prints status; it needs only
// kubectl and Node.js (any version that runs ES modules), and talks to the cluster through kubectl.
import { execFileSync } from 'node:child_process';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';

const USAGE = `usage: kubectl tokensmith <command> NAME [-n NAMESPACE] [--context CONTEXT]

commands:
  status  NAME                          show a TokenPolicy's token versions, conditions, usage
                                        (last presented, stale consumers) and suspicious use
  rotate  NAME                          rotate now (annotation tokensmith.dev/rotate)
  revoke  NAME [--scope current|previous|all]
                                        revoke at once after publishing a replacement
                                        (annotation tokensmith.dev/revoke; default scope: current)
  rotate-key ISSUER [--namespaced] [--leaked]
                                        rotate a ClusterTokenIssuer's (or TokenIssuer's) signing key
                                        (annotation tokensmith.dev/rotate-key); --leaked: the key
                                        leaked, so it leaves the JWKS at once and every token it
                                        signed is re-minted
`;

function parse(argv) {
  const args = {
    positional: [],
    kubectl: [],
    scope: 'current',
    namespaced: false,
    leaked: false,
    wait: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-n' || a === '--namespace' || a === '--context' || a === '--kubeconfig')
      args.kubectl.push(a, argv[++i]);
    else if (a.startsWith('--namespace=') || a.startsWith('--context=') || a.startsWith('--kubeconfig='))
      args.kubectl.push(a);
    else if (a === '--scope') args.scope = argv[++i];
    else if (a.startsWith('--scope=')) args.scope = a.slice('--scope='.length);
    else if (a === '--namespaced') args.namespaced = true;
    else if (a === '--leaked') args.leaked = true;
    else if (a === '--no-wait') args.wait = false;
    else if (a === '-h' || a === '--help') args.help = true;
    else args.positional.push(a);
  }
  return args;
}

function kubectl(args, extra) {
  return execFileSync('kubectl', [...extra, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function readPolicy(name, extra) {
  return JSON.parse(kubectl(['get', 'tokenpolicy', name, '-o', 'json'], extra));
}

function printStatus(policy, extra) {
  const s = policy.status ?? {};
  const ready = (s.conditions ?? []).find((c) => c.type === 'Ready');
  const lines = [
    `TokenPolicy ${policy.metadata.namespace}/${policy.metadata.name}`,
    `  Ready:          ${ready ? `${ready.status} (${ready.reason}) ${ready.message}` : 'unknown'}`,
    `  Version:        ${s.currentVersion ?? '-'}  ${s.fingerprint ?? ''}`,
    `  Expires:        ${s.expiresAt ?? '-'}`,
    `  Next rotation:  ${s.nextRotationAt ?? '-'}`,
    '  Versions:',
    ...(s.versions ?? []).map(
      (v) =>
        `    v${v.version}  ${v.state.padEnd(8)} ${v.fingerprint}  issued ${v.issuedAt}  expires ${v.expiresAt}` +
        `${v.mintReason ? `  minted: ${v.mintReason}` : ''}${v.revokedAt ? `  revoked ${v.revokedAt} (${v.revokeReason ?? '?'})` : ''}`,
    ),
    ...usageLines(policy),
    ...suspiciousLines(policy, extra),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** status.usage summed over the replicas that saw each version; retiring versions in use are stale consumers. */
function usageLines(policy) {
  const byVersion = new Map();
  for (const u of policy.status?.usage ?? []) {
    const seen = byVersion.get(u.version) ?? { presentations: 0, last: '', callers: new Set() };
    seen.presentations += u.presentations;
    if (u.lastPresentedAt > seen.last) seen.last = u.lastPresentedAt;
    for (const c of u.callers ?? []) seen.callers.add(c);
    byVersion.set(u.version, seen);
  }
  if (byVersion.size === 0) return ['  Usage:          no token presented to the verification server yet'];
  const states = new Map((policy.status?.versions ?? []).map((v) => [v.version, v.state]));
  return [
    '  Usage:',
    ...[...byVersion]
      .sort(([a], [b]) => b - a)
      .map(([version, u]) => {
        const stale =
          states.get(version) === 'retiring' ? '  STALE CONSUMERS: still presenting a retiring token' : '';
        return `    version ${version}  ${u.presentations} presentations, last ${u.last}, by ${[...u.callers].join(', ')}${stale}`;
      }),
  ];
}

const SUSPICIOUS = new Set([
  'RevokedTokenPresented',
  'ExpiredTokenPresented',
  'NotAConsumer',
  'RefreshTokenReplayed',
  'RetiringTokenPresented',
]);

/** The policy's recent Warning Events about suspicious use. */
function suspiciousLines(policy, extra) {
  let events;
  try {
    const list = JSON.parse(
      kubectl(
        [
          'get',
          'events',
          '-n',
          policy.metadata.namespace,
          '--field-selector',
          `involvedObject.uid=${policy.metadata.uid}`,
          '-o',
          'json',
        ],
        extra.filter((a, i, all) => a !== '-n' && all[i - 1] !== '-n' && !a.startsWith('--namespace')),
      ),
    );
    events = (list.items ?? []).filter((e) => SUSPICIOUS.has(e.reason));
  } catch {
    return ['  Suspicious use: (could not read Events)'];
  }
  if (events.length === 0) return ['  Suspicious use: none'];
  return [
    '  Suspicious use:',
    ...events
      .slice(-10)
      .map((e) => `    ${e.lastTimestamp ?? e.eventTime ?? ''}  ${e.reason}: ${e.message ?? e.note ?? ''}`),
  ];
}

async function waitForChange(name, extra, annotation, value) {
  for (let i = 0; i < 60; i++) {
    const policy = readPolicy(name, extra);
    const handled = policy.status?.handledRequests?.[annotation];
    if (handled === value) return policy;
    await sleep(500);
  }
  process.stderr.write('tokensmith has not acted on the request within 30s; check `kubectl describe tp`\n');
  return readPolicy(name, extra);
}

async function main() {
  const args = parse(process.argv.slice(2));
  const [command, name] = args.positional;
  if (args.help || !command || !name) {
    process.stdout.write(USAGE);
    return args.help ? 0 : 2;
  }
  const stamp = new Date().toISOString().replace(/[-:.]/g, '');
  switch (command) {
    case 'status':
      printStatus(readPolicy(name, args.kubectl), args.kubectl);
      return 0;
    case 'rotate': {
      kubectl(
        ['annotate', 'tokenpolicy', name, `tokensmith.dev/rotate=${stamp}`, '--overwrite'],
        args.kubectl,
      );
      process.stdout.write(`rotation requested (tokensmith.dev/rotate=${stamp})\n`);
      if (args.wait) printStatus(await waitForChange(name, args.kubectl, 'rotate', stamp), args.kubectl);
      return 0;
    }
    case 'revoke': {
      if (!['current', 'previous', 'all'].includes(args.scope)) {
        process.stderr.write(`--scope must be current, previous or all, not "${args.scope}"\n`);
        return 2;
      }
      const value = `${args.scope}:${stamp}`;
      kubectl(
        ['annotate', 'tokenpolicy', name, `tokensmith.dev/revoke=${value}`, '--overwrite'],
        args.kubectl,
      );
      process.stdout.write(`revocation requested (tokensmith.dev/revoke=${value})\n`);
      if (args.wait) printStatus(await waitForChange(name, args.kubectl, 'revoke', value), args.kubectl);
      return 0;
    }
    case 'rotate-key': {
      const kind = args.namespaced ? 'tokenissuer' : 'clustertokenissuer';
      const value = args.leaked ? `leaked:${stamp}` : stamp;
      kubectl(['annotate', kind, name, `tokensmith.dev/rotate-key=${value}`, '--overwrite'], args.kubectl);
      process.stdout.write(
        args.leaked
          ? `leaked-key rotation requested for ${kind} ${name} (tokensmith.dev/rotate-key=${value}): the old key leaves the JWKS at once and its tokens are re-minted\n`
          : `signing-key rotation requested for ${kind} ${name} (tokensmith.dev/rotate-key=${value})\n`,
      );
      return 0;
    }
    default:
      process.stderr.write(USAGE);
      return 2;
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    const stderr = err && typeof err === 'object' && 'stderr' in err ? String(err.stderr).trim() : '';
    process.stderr.write(
      `kubectl tokensmith: ${stderr || (err instanceof Error ? err.message : String(err))}\n`,
    );
    process.exitCode = 1;
  },
);
