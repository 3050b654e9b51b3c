/**
 * The slice of a pino logger the controller machinery needs. main passes the root pino logger (or
 * a child); unit tests pass a recorder. Log objects must carry safe fields only (see
 * safeErrorFields in src/errors.ts), never a token or a response body.
 */
export interface WarnLogger {
  warn(obj: object, msg: string): void;
  /** Optional: news worth a line (a watch the server closed early). Default: not logged. */
  info?(obj: object, msg: string): void;
  /** Optional: routine detail (a relist and its size). Default: not logged. */
  debug?(obj: object, msg: string): void;
}

/** A logger that discards everything: the default where logging is optional. */
export const silentLogger: WarnLogger = {
  warn() {
    // discarded on purpose
  },
};
