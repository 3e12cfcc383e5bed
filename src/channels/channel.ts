/** A channel as the relay uses it: decrypted key, provider type resolved, models as a set. */
import type { ConfigScope } from '../db/schema/provider.js';

export type WireFormat = 'openai' | 'anthropic' | 'azure';

export interface Channel {
  id: string;
  tenantId: string;
  name: string;
  providerName: string;
  format: WireFormat;
  /** Channel base URL, else the provider type's. */
  baseUrl: string | null;
  /** Plaintext upstream key; null when it could not be decrypted (the channel is then never selected). */
  apiKey: string | null;
  priority: number;
  weight: number;
  status: number;
  quota: number;
  usedQuota: number;
  rateLimit: number;
  scope: ConfigScope;
  ownerId: string | null;
  groupId: string | null;
  models: ReadonlySet<string>;
  modelMapping: Readonly<Record<string, string>>;
  config: Readonly<Record<string, unknown>>;
  createdAt: number;
}
