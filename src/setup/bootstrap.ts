/**
 * First start without LYSS_CONFIG: on an empty database, one default tenant and a super admin, so there is
 * someone to log in as. Runs under a transaction-scoped advisory lock, so instances starting together on one
 * database create them once.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { actForTenant } from '../db/tenant.js';
import { authUsers, tenantOrganizations } from '../db/schema/index.js';
import { hashPassword } from '../auth/password.js';
import type { Logger } from '../logger.js';

export const DEFAULT_TENANT = { slug: 'default', name: 'Default' } as const;

export interface BootstrapResult {
  created: boolean;
  /** The generated password, when none was given: the caller shows it once. */
  password?: string;
}

async function hasTenants(db: Db): Promise<boolean> {
  const [row] = await db.select({ id: tenantOrganizations.id }).from(tenantOrganizations).limit(1);
  return row !== undefined;
}

/** A 24-character base64url password (144 random bits). */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}

export async function bootstrap(
  deps: { db: Db; logger: Logger },
  opts: { adminEmail: string; adminPassword?: string },
): Promise<BootstrapResult> {
  // Cheap check first, so a normal restart neither hashes a password nor takes the lock.
  if (await hasTenants(deps.db)) return { created: false };
  const generated = opts.adminPassword === undefined ? generatePassword() : undefined;
  // Hashed before the lock: scrypt is slow on purpose and must not hold other instances back.
  const hashedPassword = await hashPassword(opts.adminPassword ?? generated!);
  const email = opts.adminEmail.toLowerCase();

  const created = await deps.db.transaction(async (raw) => {
    const tx = raw as unknown as Db;
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext('lyss:bootstrap'))`);
    // Checked again under the lock: another instance may have bootstrapped since the first check.
    if (await hasTenants(tx)) return false;
    const [tenant] = await tx
      .insert(tenantOrganizations)
      .values({ slug: DEFAULT_TENANT.slug, name: DEFAULT_TENANT.name })
      .returning({ id: tenantOrganizations.id });
    await actForTenant(tx, tenant!.id);
    await tx
      .insert(authUsers)
      .values({ tenantId: tenant!.id, email, hashedPassword, role: 'super_admin' })
      .returning({ id: authUsers.id });
    return true;
  });
  if (!created) return { created: false };
  deps.logger.info('bootstrap: created the default tenant and its super admin', { tenant: DEFAULT_TENANT.slug, email });
  return generated === undefined ? { created: true } : { created: true, password: generated };
}
