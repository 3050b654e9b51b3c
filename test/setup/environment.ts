/**
 * Vitest global setup for the integration tier: builds (or finds cached) test servers, starts one
 * shared environment for the run, hands tests its connection through `inject('testEnvironment')`
 * and stops it afterwards (also when tests fail or the run is interrupted).
 */
import type { TestProject } from 'vitest/node';
import type { EnvironmentConnection } from '../env/environment.ts';
import { launchEnvironment } from '../env/launch.ts';
import { settingsFromProcess } from '../env/settings.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    testEnvironment: EnvironmentConnection;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const settings = settingsFromProcess();
  const log = (line: string) => process.stderr.write(`[test-env] ${line}\n`);
  const env = await launchEnvironment(settings, log);
  const onSignal = (signal: NodeJS.Signals) => {
    void env.stop().finally(() => process.kill(process.pid, signal));
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, onSignal);
  project.provide('testEnvironment', env.connection);
  return async () => {
    await env.stop();
  };
}
