/** Entry point: configuration -> dependencies (database, migrations, store) -> setup -> app -> serve. */
import { ConfigError, loadConfig } from './config.js';
import { createDeps } from './deps.js';
import { createApp } from './app.js';
import { listen } from './http/server.js';
import { createLogger } from './logger.js';
import { runSetup, SetupError } from './setup/index.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`lyss: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.LOG_LEVEL);
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
  const app = createApp(deps);
  const running = await listen(app, { port: config.PORT, host: config.HOST });
  logger.info('lyss gateway listening', {
    url: `http://${config.HOST}:${running.port}`,
    database: deps.database.kind,
    store: config.REDIS_URL ? 'redis' : 'memory',
    startupMs: Date.now() - started,
  });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    await running.drain(config.LYSS_SHUTDOWN_GRACE_MS);
    await deps.close();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err) => {
  process.stderr.write(`lyss: failed to start: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
