/** `npm run db:migrate`: applies pending migrations to DATABASE_URL (or the embedded database) and exits. */
import { loadConfig } from '../config.js';
import { openDatabase } from './client.js';

const config = loadConfig();
const database = await openDatabase({ url: config.DATABASE_URL, dataDir: config.LYSS_DATA_DIR, poolSize: 1 });
await database.close();
process.stdout.write(`migrations applied (${database.kind})\n`);
