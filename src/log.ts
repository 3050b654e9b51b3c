/**
 * The root logger, created once in main and passed down; reconcilers log through children such as
 * `{ tokenPolicy: 'ns/name' }`. Redaction is built in: any field that can carry token material,
 * keys or credentials is censored wherever it appears, as a second line of defence behind the rule
 * that such values are never logged at all.
 */
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Field names that may hold secret material; censored at any depth up to four levels. */
export const SECRET_FIELDS = [
  'token',
  'refreshToken',
  'accessToken',
  'clientToken',
  'client_token',
  'secretId',
  'secret_id',
  'jwt',
  'privateKey',
  'private_key',
  'privateJwk',
  'refresh_token',
  'access_token',
  'role_id',
  'secret',
  'password',
  'authorization',
  'Authorization',
  'x-vault-token',
  'X-Vault-Token',
  'data',
  'stringData',
  'body',
  'headers',
  'cause',
] as const;

function redactPaths(): string[] {
  const paths: string[] = [];
  for (const field of SECRET_FIELDS) {
    const key = /^[A-Za-z_][A-Za-z0-9_]*$/.test(field) ? field : `["${field}"]`;
    const join = (prefix: string) => (key.startsWith('[') ? `${prefix}${key}` : `${prefix}.${key}`);
    paths.push(key, join('*'), join('*.*'), join('*.*.*'));
  }
  return paths;
}

export interface LoggerOptions {
  level?: string;
  /** Where lines go; default stdout. Tests pass a stream to scan what was logged. */
  destination?: DestinationStream;
}

/** Creates the root logger (JSON lines, ISO times, secret fields censored). */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      name: 'tokensmith',
      level: options.level ?? 'info',
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: redactPaths(), censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination,
  );
}

/**
 * The audit logger of the verification server: one line per request, on the same stream as `log`
 * but without redaction (its fields are fixed and never secret: the caller's username, a
 * fingerprint, the policy, a version and the answer), since censoring a hundred paths in every
 * line was most of an introspection's cost. Nothing but audit() calls may log through it.
 */
export function auditLogger(log: Logger): Logger {
  const stream = (log as unknown as Record<symbol, DestinationStream>)[pino.symbols.streamSym];
  return pino(
    {
      name: 'tokensmith',
      level: log.level,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
}
