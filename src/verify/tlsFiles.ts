/**
 * The verification server's certificate and key, read from files and read again when they change
 * (cert-manager renews them in place; a mounted Secret changes by a symlink swap, so the files are
 * polled rather than watched). A pair that does not load keeps the previous one, with a warning.
 */
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Logger } from '../log.ts';

export interface TlsFiles {
  /** The current certificate and key. */
  readonly current: SecureContextOptions;
  /** Stops watching. */
  close(): void;
}

/** Loads the pair (throws, naming the file, when it cannot) and calls `onChange` with each new one. */
export function watchTlsFiles(options: {
  certFile: string;
  keyFile: string;
  log: Logger;
  onChange: (tls: SecureContextOptions) => void;
  pollMs?: number;
}): TlsFiles {
  const load = (): SecureContextOptions => {
    const read = (path: string, what: string) => {
      try {
        return readFileSync(path, 'utf8');
      } catch (err) {
        throw new Error(
          `cannot read the ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
          {
            cause: err,
          },
        );
      }
    };
    const tls = { cert: read(options.certFile, 'TLS certificate'), key: read(options.keyFile, 'TLS key') };
    createSecureContext(tls); // throws when they do not make a pair
    return tls;
  };
  let current = load();
  const reload = () => {
    try {
      const next = load();
      if (next.cert === current.cert && next.key === current.key) return;
      current = next;
      options.onChange(next);
      options.log.info({ certFile: options.certFile }, 'verification server: TLS certificate reloaded');
    } catch (err) {
      options.log.warn(
        { certFile: options.certFile, reason: (err as Error).message.split('\n')[0] },
        'verification server: the new TLS certificate did not load; keeping the previous one',
      );
    }
  };
  const interval = options.pollMs ?? 2_000;
  watchFile(options.certFile, { interval }, reload);
  watchFile(options.keyFile, { interval }, reload);
  return {
    get current() {
      return current;
    },
    close() {
      unwatchFile(options.certFile, reload);
      unwatchFile(options.keyFile, reload);
    },
  };
}
