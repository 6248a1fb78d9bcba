// Compiles static/scss/app.scss (GOV.UK Frontend + our rules) into build/static/app.css
// Run by the Makefile (target build/static/app.css).
import * as sass from 'sass';
import { mkdirSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const out = 'build/static';
mkdirSync(out, { recursive: true });
const result = sass.compile('static/scss/app.scss', {
  loadPaths: ['node_modules'],
  style: 'compressed',
  quietDeps: true,
  silenceDeprecations: ['import', 'global-builtin', 'color-functions', 'slash-div'],
});
writeFileSync(`${out}/app.css`, result.css);
// The server sends the precompressed copy to browsers that accept gzip.
writeFileSync(`${out}/app.css.gz`, gzipSync(result.css, { level: 9 }));
console.log(`build-css: ${out}/app.css ${result.css.length} bytes`);
