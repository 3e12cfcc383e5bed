/**
 * Entry point: configuration -> dependencies (database, migrations, store) -> setup -> app -> serve.
 * With LYSS_WORKERS > 1 (the default on PostgreSQL + Redis: one per core) a primary forks workers that share
 * the port; limits stay exact because they live in Redis. The embedded default always runs one process: its
 * database and limits live in that process.
 */
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createDeps, type Deps } from './deps.js';
import { createApp } from './app.js';
import { listen, type Served } from './http/server.js';
import { createLogger, type Logger } from './logger.js';
import { runSetup, SetupError } from './setup/index.js';
import { openDatabase, sql, type Db } from './db/client.js';
import { ensureMessagePartitions } from './db/partitions.js';
import type { LimitStore } from './store/limit-store.js';
import { createRedisStore } from './store/redis-store.js';
import { createUsageRecorder, spillFileFor, type UsageRecorder } from './usage/usage-recorder.js';
import { writeUsageBatch } from './usage/usage-repo.js';
import { reconcileQuotaCounters } from './usage/reconcile.js';
import { lowerBackgroundThreads } from './thread-priority.js';
import { StartupError } from './startup-error.js';

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
  let appReady!: (app: Served) => void;
  const app = new Promise<Served>((resolve) => (appReady = resolve));
  // One process listens first: /healthz answers while its database starts (PGlite's first boot takes
  // seconds), other requests wait (see listen()). A cluster worker starts fast (the primary migrated) and joins
  // the shared port only when ready, so its siblings keep serving meanwhile.
  const early = cluster.isWorker ? null : await listen(app, { port: config.PORT, host: config.HOST });
  if (early) logger.info('lyss gateway listening; starting its database', { url: `http://${config.HOST}:${early.port}`, pid: process.pid });
  const deps = await createDeps(config, logger);
  try {
    await setupOneAtATime(deps);
  } catch (err) {
    await deps.close();
    if (err instanceof SetupError) {
      process.stderr.write(`lyss: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  // One process: nothing else serves yet. Under a cluster primary, the primary did it before forking.
  if (config.REDIS_URL && !cluster.isWorker) await reconcileAtStart(deps.database.db, deps.store, deps.relay.usage, logger);
  const ready = createApp(deps);
  appReady(ready);
  const running = early ?? (await listen(ready, { port: config.PORT, host: config.HOST }));
  // Once started: V8's workers, and libuv's pool if the start used it, take the lower priority.
  const backgroundThreads = lowerBackgroundThreads(config.LYSS_BACKGROUND_NICE);
  logger.info('lyss gateway ready', {
    url: `http://${config.HOST}:${running.port}`,
    database: deps.database.kind,
    store: config.REDIS_URL ? 'redis' : 'memory',
    pid: process.pid,
    startupMs: Date.now() - started,
    backgroundThreads,
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

/**
 * Instances (or cluster workers) starting together would race to create the same LYSS_CONFIG rows, and the
 * loser would stop on a unique violation. A transaction-scoped advisory lock, held on one pooled connection
 * while setup runs on others, lets them apply one at a time: the later ones find the rows and change nothing.
 * PGlite has one connection and one process, so nothing to serialise there.
 */
async function setupOneAtATime(deps: Deps): Promise<void> {
  if (deps.database.kind !== 'postgres') return runSetup(deps);
  await deps.database.db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext('lyss:setup'))`);
    await runSetup(deps);
  });
}

/**
 * design.md §4: before serving, write the usage records spilled by the last run, then set the live quota
 * counters from PostgreSQL (what a crash left unwritten is not counted; reservations it left expire).
 */
async function reconcileAtStart(db: Db, store: LimitStore, usage: UsageRecorder, logger: Logger): Promise<void> {
  try {
    if (usage.pending > 0) await usage.flush();
  } catch (err) {
    logger.warn('spilled usage records cannot be written yet; the counters count them as pending', { err, pending: usage.pending });
  }
  try {
    const summary = await reconcileQuotaCounters(db, store, (kind, id) => usage.pendingCost(kind, id));
    logger.info('quota counters reconciled from PostgreSQL', { ...summary });
  } catch (err) {
    logger.error('quota counters could not be reconciled at start', { err });
  }
}

/** The cluster primary's share of the start: the reconciliation, while no worker serves yet. */
async function prepareWorkers(config: Config, logger: Logger): Promise<void> {
  const database = await openDatabase({ url: config.DATABASE_URL, poolSize: 2 });
  const store = createRedisStore({ url: config.REDIS_URL! });
  const usage = createUsageRecorder({
    write: (batch, id) => writeUsageBatch(database.usageWriter, batch, id),
    logger,
    flushMs: config.LYSS_USAGE_FLUSH_MS,
    batchSize: config.LYSS_USAGE_BATCH_SIZE,
    maxQueue: config.LYSS_USAGE_QUEUE_MAX,
    spillFile: spillFileFor(config.LYSS_DATA_DIR),
  });
  try {
    await ensureMessagePartitions(database.db);
    await reconcileAtStart(database.db, store, usage, logger);
  } finally {
    // What could not be written goes back to the spill file, for a worker to replay.
    await usage.close(1_000);
    await store.close();
    await database.close();
  }
}

function runPrimary(workers: number, logger: Logger): void {
  let stopping = false;
  // glibc reads MALLOC_ARENA_MAX when a process starts, so the workers get it here (see README, "npm start").
  const fork = () => cluster.fork({ MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2' });
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
  prepareWorkers(config, logger)
    .catch((err) => logger.error('start-up reconciliation failed; starting workers anyway', { err }))
    .finally(() => runPrimary(workers, logger));
} else {
  serveOne(config, logger).catch((err) => {
    const told = err instanceof StartupError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`lyss: failed to start: ${told}\n`);
    process.exit(1);
  });
}
