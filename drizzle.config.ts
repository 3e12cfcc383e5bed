import { defineConfig } from 'drizzle-kit';

// chat-messages.ts is left out on purpose: the table is partitioned, which drizzle-kit cannot express,
// so a custom migration creates it (see src/db/schema/chat-messages.ts).
export default defineConfig({
  dialect: 'postgresql',
  schema: [
    './src/db/schema/tenant.ts',
    './src/db/schema/auth.ts',
    './src/db/schema/provider.ts',
    './src/db/schema/chat.ts',
    './src/db/schema/memory.ts',
  ],
  out: './drizzle',
  casing: undefined,
});
