// Bundles the browser pages under web/ into dist/public (run after `nest build`, which empties dist/):
// the chat page (index.html, chat.js, styles.css) and the offline GraphQL IDE (ide.html, ide.js, ide.css).
// Everything the pages load comes from the app itself; nothing is fetched from a CDN at run time.
import { build } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const web = join(root, 'web');
const out = join(root, 'dist', 'public');

await mkdir(out, { recursive: true });
await build({
  entryPoints: {
    chat: join(web, 'chat', 'main.ts'),
    ide: join(web, 'ide', 'main.tsx'),
    styles: join(web, 'styles.css'),
  },
  outdir: out,
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: 'linked',
  jsx: 'automatic',
  // React picks its production build from this.
  define: { 'process.env.NODE_ENV': '"production"' },
  legalComments: 'linked',
  logLevel: 'warning',
});
await Promise.all(['index.html', 'ide.html'].map((page) => copyFile(join(web, page), join(out, page))));
