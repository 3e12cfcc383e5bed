/** A small structured logger: one JSON line per event on stderr, filtered by LOG_LEVEL. */
const levels = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
export type LogLevel = keyof typeof levels;

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export function createLogger(level: LogLevel, write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const min = levels[level];
  const log = (lvl: Exclude<LogLevel, 'silent'>) => (msg: string, fields?: Record<string, unknown>) => {
    if (levels[lvl] < min) return;
    const entry: Record<string, unknown> = { time: new Date().toISOString(), level: lvl, msg, ...fields };
    for (const [k, v] of Object.entries(entry)) if (v instanceof Error) entry[k] = errorFields(v);
    write(JSON.stringify(entry) + '\n');
  };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

/**
 * drizzle's query errors carry the statement's parameters in their message ("Failed query: ...\nparams: ..."):
 * password hashes, sealed keys, token digests. They never reach a log line; the driver's own error (the cause)
 * says what went wrong.
 */
function errorFields(err: Error): Record<string, unknown> {
  const redact = (text: string | undefined) => text?.replace(/\nparams: [\s\S]*?(?=\n {4}at |$)/, '\nparams: [redacted]');
  const fields: Record<string, unknown> = { message: redact(err.message), stack: redact(err.stack) };
  if (err.cause instanceof Error) fields.cause = { message: err.cause.message, ...('code' in err.cause ? { code: err.cause.code } : {}) };
  return fields;
}
