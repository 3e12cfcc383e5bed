// Bundles the gateway into dist/ with esbuild: ~0.1 s, so `npm start` stays fast. Type checking is `npm run typecheck`.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/main.ts', 'src/cli.ts'],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  outdir: 'dist',
  logLevel: 'warning',
});
