/** Who is calling the relay: the token, its user and its tenant, as the hot path needs them. */
import type { UserRole } from '../db/schema/auth.js';

export interface Principal {
  tokenId: string;
  tokenName: string;
  tenantId: string;
  userId: string;
  /** Empty set: every model the token's visible channels serve. */
  allowedModels: ReadonlySet<string>;
  /** Channel ids; empty set: every visible channel. */
  allowedChannels: ReadonlySet<string>;
  quota: number;
  /** Durable spend when loaded; seeds the live counter if the store lost it. */
  usedQuota: number;
  rateLimit: number;
  status: number;
  expiresAt: number | null;
  user: { role: UserRole; active: boolean; groupIds: ReadonlySet<string> };
  tenant: { active: boolean; storeContent: boolean };
}
