/**
 * Entry point: configuration -> dependencies (database, migrations, store) -> setup -> app -> serve.
 * With LYSS_WORKERS > 1 (the default on PostgreSQL + Redis: one per core) a primary forks workers that share
 * the port; limits stay exact because they live in Redis. The embedded default always runs one process: its
 * database and limits live in that process.
 */
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createDeps } from './deps.js';
import { createApp } from './app.js';
import { listen } from './http/server.js';
import { createLogger, type Logger } from './logger.js';
import { runSetup, SetupError } from './setup/index.js';

function configOrExit(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`lyss: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

/** Processes to run: several only when both the database and the limits are shared services. */
export function workerCount(config: Config): number {
  if (!config.DATABASE_URL || !config.REDIS_URL) return 1;
  return config.LYSS_WORKERS > 0 ? config.LYSS_WORKERS : availableParallelism();
}

async function serveOne(config: Config, logger: Logger): Promise<void> {
  const started = Date.now();
  const deps = await createDeps(config, logger);
  try {
    await runSetup(deps);
  } catch (err) {
    await deps.close();
    if (err instanceof SetupError) {
      process.stderr.write(`lyss: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const running = await listen(createApp(deps), { port: config.PORT, host: config.HOST });
  logger.info('lyss gateway listening', {
    url: `http://${config.HOST}:${running.port}`,
    database: deps.database.kind,
    store: config.REDIS_URL ? 'redis' : 'memory',
    pid: process.pid,
    startupMs: Date.now() - started,
  });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal, pid: process.pid });
    await running.drain(config.LYSS_SHUTDOWN_GRACE_MS);
    await deps.close();
    logger.info('stopped', { pid: process.pid, usageWritten: deps.relay.usage.written });
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

function runPrimary(workers: number, logger: Logger): void {
  let stopping = false;
  const fork = () => cluster.fork();
  for (let i = 0; i < workers; i++) fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    if (code === 2) {
      // Bad configuration or setup file: every new worker would fail the same way.
      logger.error('worker refused its configuration; stopping', { pid: worker.process.pid });
      stopping = true;
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
      process.exit(2);
    }
    logger.error('worker died; starting another', { pid: worker.process.pid, code, signal });
    fork();
  });
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping workers', { signal });
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

const config = configOrExit();
const logger = createLogger(config.LOG_LEVEL);
const workers = workerCount(config);
if (workers > 1 && cluster.isPrimary) {
  logger.info('starting workers', { workers });
  runPrimary(workers, logger);
} else {
  serveOne(config, logger).catch((err) => {
    process.stderr.write(`lyss: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
