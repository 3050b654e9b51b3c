#!/usr/bin/env node
/**
 * tokensmith's entry point: the only place that reads process.env, builds clients and wires
 * things. `tokensmith run` starts the controller.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { ApiException, KubeConfig } from '@kubernetes/client-node';
import { ConfigError, helpText, parseConfig } from './config.ts';
import { safeErrorFields } from './errors.ts';
import { pino, type DestinationStream } from 'pino';
import { createLogger, type Logger } from './log.ts';
import { startOperator, type OperatorOptions } from './operator.ts';
import { clockFromEnv } from './util/clock.ts';

const USAGE = `usage: tokensmith <command>

commands:
  run      run the controller (tokensmith run --help for its flags)
  version  print the version and the commit it was built from
`;

/**
 * `tokensmith <version> (commit <sha>)`: the version from package.json, the commit from
 * TOKENSMITH_COMMIT (the image sets it from its build argument) or a git checkout's HEAD.
 */
function versionText(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  let commit = process.env.TOKENSMITH_COMMIT;
  if (!commit) {
    try {
      const head = readFileSync(new URL('../.git/HEAD', import.meta.url), 'utf8').trim();
      commit = head.startsWith('ref: ')
        ? readFileSync(new URL(`../.git/${head.slice(5)}`, import.meta.url), 'utf8').trim()
        : head;
    } catch {
      commit = 'unknown';
    }
  }
  return `tokensmith ${pkg.version} (commit ${commit.slice(0, 12)})\n`;
}

function tryRead(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * For crash-safety tests only: TOKENSMITH_FAULT_INJECTION=<step>[:<mint reason>] kills the process
 * with SIGKILL right after the first such step (mint, publish, activate, sync, revoke, prune), or
 * with `exchange-recorded` right after the token endpoint recorded an exchange, before it answers.
 */
function faultInjection(
  spec: string | undefined,
  log: Logger,
): Pick<OperatorOptions, 'afterStep' | 'afterExchangeRecorded'> {
  if (!spec) return {};
  const [kind, reason] = spec.split(':');
  log.warn({ faultInjection: spec }, 'fault injection enabled: the process will kill itself');
  if (kind === 'exchange-recorded') {
    return {
      afterExchangeRecorded: () => {
        process.kill(process.pid, 'SIGKILL');
      },
    };
  }
  return {
    afterStep: (step) => {
      if (step.kind !== kind) return;
      if (reason !== undefined && (!('reason' in step) || step.reason !== reason)) return;
      process.kill(process.pid, 'SIGKILL');
    },
  };
}

/**
 * Standard output for the logs, written asynchronously: a synchronous write blocks the event loop
 * whenever the reader of the pipe (the container runtime) falls behind, which stalled every
 * request of the verification server behind it. Lines wait in memory instead — at most 64 MiB;
 * past that new lines are dropped (and counted in one warning) rather than the process growing
 * without bound — and are flushed when the process exits.
 */
function stdoutDestination(): DestinationStream {
  const destination = pino.destination({ dest: 1, sync: false, maxLength: 64 * 1024 * 1024 });
  let dropped = 0;
  destination.on('drop', () => {
    dropped += 1;
    if (dropped === 1) {
      process.stderr.write('tokensmith: standard output is not being read; log lines are being dropped\n');
    }
  });
  process.on('exit', () => {
    try {
      destination.flushSync();
    } catch {
      // Nothing more can be done for the logs of a process that is exiting.
    }
  });
  return destination;
}

async function run(argv: string[]): Promise<number> {
  let config;
  try {
    config = parseConfig({ argv, env: process.env, readFile: tryRead, hostname: hostname() });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`tokensmith: ${err.message}\n`);
    return 2;
  }
  if (config === 'help') {
    process.stdout.write(helpText());
    return 0;
  }
  let testClock;
  try {
    testClock = clockFromEnv(process.env.TOKENSMITH_TEST_CLOCK);
  } catch (err) {
    process.stderr.write(`tokensmith: ${(err as Error).message}\n`);
    return 2;
  }
  const log = createLogger({ level: config.logLevel, destination: stdoutDestination() });
  if (testClock.factor !== 1) {
    log.warn(
      { factor: testClock.factor },
      'TOKENSMITH_TEST_CLOCK: time runs faster than the wall clock (for tests only)',
    );
  }
  const kubeConfig = new KubeConfig();
  if (config.kubeconfig) kubeConfig.loadFromFile(config.kubeconfig);
  else kubeConfig.loadFromDefault();
  log.info(
    {
      server: kubeConfig.getCurrentCluster()?.server,
      vault: config.vault.address,
      vaultAuth: config.vault.auth?.method,
      namespaces: config.namespaces.length > 0 ? config.namespaces : 'all',
      leaderElection: config.leaderElection.enabled,
    },
    'starting tokensmith',
  );
  const operator = startOperator({
    config,
    kubeConfig,
    log,
    clock: testClock.clock,
    onLostLeadership: () => process.exit(1),
    ...faultInjection(process.env.TOKENSMITH_FAULT_INJECTION, log),
  });
  const stop = async (signal: string) => {
    log.info({ signal }, 'stopping');
    await operator.stop();
    process.exit(process.exitCode ?? 0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
  try {
    await operator.ready;
  } catch (err) {
    // Never linger half-started (holding the leader Lease, doing nothing): exit and be restarted.
    log.fatal({ err: safeErrorFields(err) }, 'could not start');
    await operator.stop().catch(() => undefined);
    return 1;
  }
  return new Promise<number>(() => undefined); // runs until a signal
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'run') return run(rest);
  if (command === 'version' || command === '--version') {
    process.stdout.write(versionText());
    return 0;
  }
  process.stdout.write(USAGE);
  return command === undefined || command === 'help' || command === '--help' ? 0 : 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exit(code);
    process.exitCode = code;
  },
  (err: unknown) => {
    // An ApiException's message embeds the response body: never print it.
    const message =
      err instanceof Error && !(err instanceof ApiException) ? err.message : safeErrorFields(err).message;
    process.stderr.write(`tokensmith: ${message}\n`);
    process.exit(1);
  },
);
