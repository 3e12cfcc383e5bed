import { defineConfig } from 'vitest/config';

// The longer fault tests (real processes, killed servers): `npm run test:faults`, also run by .ci/run.
export default defineConfig({
  test: {
    include: ['tests/faults/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
    passWithNoTests: true,
  },
});
