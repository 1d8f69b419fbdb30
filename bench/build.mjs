/**
 * Bundles the benchmark (TypeScript) into bench/.build with esbuild, so that the load generator and the baseline
 * servers run as plain JavaScript: no ts-node in the hot path. Dependencies stay external (node_modules).
 */
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
await build({
  entryPoints: {
    run: join(here, 'run.ts'),
    worker: join(here, 'worker.ts'),
    'baselines/ws-relay': join(here, 'baselines/ws-relay.ts'),
    'baselines/graphql-naive': join(here, 'baselines/graphql-naive.ts'),
    'baselines/socketio': join(here, 'baselines/socketio.ts'),
    'baselines/mercurius': join(here, 'baselines/mercurius.ts'),
  },
  outdir: join(here, '.build'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
});
