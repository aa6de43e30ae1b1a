// Writes `<file>.br` and `<file>.gz` beside each of the portal's files, once per build, so the
// server sends them as they are (tower-http's ServeDir picks the one the browser accepts) instead
// of compressing the WASM on every request: at brotli's top quality that took seconds of CPU per
// download of the release WASM, and tens of seconds for the debug one.
//
// usage: node scripts/precompress.mjs <quality 0-11> <file>...
// Node's zlib carries brotli and gzip, and Node is already a build tool here (wasm-opt).
import { readFileSync, writeFileSync } from "node:fs";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const [quality, ...files] = process.argv.slice(2);
const brotliQuality = Number(quality);
if (!Number.isInteger(brotliQuality) || brotliQuality < 0 || brotliQuality > 11 || files.length === 0) {
  console.error("usage: node scripts/precompress.mjs <quality 0-11> <file>...");
  process.exit(2);
}
for (const file of files) {
  const bytes = readFileSync(file);
  const br = brotliCompressSync(bytes, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: brotliQuality,
      [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
    },
  });
  writeFileSync(`${file}.br`, br);
  // gzip's level 9 costs little next to brotli's; the few clients without brotli get it.
  writeFileSync(`${file}.gz`, gzipSync(bytes, { level: 9 }));
  console.log(`${file}: ${bytes.length} bytes, br ${br.length}, gzip level 9`);
}
