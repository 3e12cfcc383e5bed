/** Setup at start: apply LYSS_CONFIG when it is set, otherwise bootstrap an empty database. */
import type { Deps } from '../deps.js';
import { applyConfig, type ApplySummary } from './apply.js';
import { bootstrap } from './bootstrap.js';
import { loadConfigFile } from './config-file.js';

export { applyConfig, type ApplySummary, type ApplyCounts } from './apply.js';
export { bootstrap, type BootstrapResult } from './bootstrap.js';
export { loadConfigFile, parseConfigText, validateConfig, type ParsedConfig } from './config-file.js';
export { SetupError } from './setup-error.js';

const DEFAULT_ADMIN_EMAIL = 'admin@lyss.local';

/** What setup uses of the dependencies; a full Deps fits. */
export type SetupDeps = Pick<Deps, 'config' | 'logger' | 'database' | 'secrets'>;

/** Throws a SetupError for a bad config file (nothing is applied then). */
export async function runSetup(deps: SetupDeps): Promise<void> {
  const { config, logger } = deps;
  const db = deps.database.db;
  if (config.LYSS_CONFIG) {
    // The file declares every user; an admin chosen for the bootstrap would otherwise vanish unsaid.
    const ignored = (['LYSS_ADMIN_EMAIL', 'LYSS_ADMIN_PASSWORD'] as const).filter((name) => config[name] !== undefined);
    if (ignored.length > 0) {
      logger.warn(`${ignored.join(' and ')} ignored: LYSS_CONFIG sets up the users (declare a super_admin there)`, { file: config.LYSS_CONFIG });
    }
    const file = await loadConfigFile(config.LYSS_CONFIG);
    const summary = await applyConfig({ db, secrets: deps.secrets }, file);
    logger.info('LYSS_CONFIG applied', { file: config.LYSS_CONFIG, ...describe(summary) });
    return;
  }
  const adminEmail = config.LYSS_ADMIN_EMAIL ?? DEFAULT_ADMIN_EMAIL;
  const result = await bootstrap({ db, logger }, { adminEmail, adminPassword: config.LYSS_ADMIN_PASSWORD });
  if (!result.created) {
    logger.debug('bootstrap: the database already has tenants; nothing to do');
    return;
  }
  if (result.password === undefined) return;
  const email = adminEmail.toLowerCase();
  logger.warn('*** INITIAL SUPER ADMIN PASSWORD, SHOWN ONLY ONCE: log in and change it ***', { email, password: result.password });
  // Filtered out at these levels, the password would be lost for good: say it on stderr regardless.
  if (config.LOG_LEVEL === 'error' || config.LOG_LEVEL === 'silent') {
    process.stderr.write(`lyss: initial super admin ${email}, password (shown only once): ${result.password}\n`);
  }
}

function describe(s: ApplySummary): Record<string, unknown> {
  const line = (c: { created: number; updated: number; unchanged: number }) => `${c.created} created, ${c.updated} updated, ${c.unchanged} unchanged`;
  return {
    tenants: line(s.tenants),
    users: line(s.users),
    groups: line(s.groups),
    members: `${s.members.added} added, ${s.members.removed} removed`,
    channels: line(s.channels),
    tokens: line(s.tokens),
  };
}
