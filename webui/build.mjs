// Builds the web UI into dist/: a content-hashed bundle and favicon under
// assets/, an index.html that names them by relative URL (so the UI works under
// any base path), and a precompressed .gz and .br beside every file. The output
// is deterministic — same sources, same bytes — because CI checks that the
// committed dist/ equals a fresh build.
//
//   node build.mjs          production build into dist/
//   node build.mjs --test   the component-test page into test/.build/ (fake transport)
import * as esbuild from "esbuild";
import { createHash } from "node:crypto";
import { mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";
import { gzipAsync } from "@gfx/zopfli";
import { minifyTemplates } from "./minify-templates.mjs";

const root = dirname(fileURLToPath(import.meta.url));
const test = process.argv.includes("--test");
const out = join(root, test ? "test/.build" : "dist");
const entry = join(root, test ? "test/entry.ts" : "src/main.ts");

const hash = (buf) => createHash("sha256").update(buf).digest("hex").slice(0, 12);

const result = await esbuild.build({
  entryPoints: [entry],
  bundle: true,
  minify: !test,
  format: "esm",
  target: "es2022",
  write: false,
  outfile: "app.js",
  loader: { ".svg": "text" },
  legalComments: "none",
  charset: "utf8",
  sourcemap: test ? "inline" : false,
  logLevel: "warning",
  plugins: [minifyTemplates], // in the test build too: the tests run what ships
});
const js = result.outputFiles[0].contents;
const icon = await readFile(join(root, "src/favicon.svg"));

const files = new Map(); // path relative to out -> contents
const script = `assets/app-${hash(js)}.js`;
const favicon = `assets/favicon-${hash(icon)}.svg`;
files.set(script, js);
files.set(favicon, icon);
const template = await readFile(join(root, "src/index.html"), "utf8");
files.set("index.html", Buffer.from(template.replaceAll("{{script}}", script).replaceAll("{{favicon}}", favicon)));

if (!test) {
  // Precompressed siblings. The .gz is made with Zopfli, a slower deflate
  // encoder whose output any gzip decoder reads and which is about 4% smaller
  // than zlib's level 9: it is made once here and served many times. Its gzip
  // header carries mtime 0 and no file name, so the bytes depend on the content
  // alone (as brotli's do).
  for (const [name, buf] of [...files]) {
    files.set(`${name}.gz`, await gzipAsync(buf, { numiterations: 15 }));
    files.set(
      `${name}.br`,
      zlib.brotliCompressSync(buf, {
        params: {
          [zlib.constants.BROTLI_PARAM_QUALITY]: 11,
          [zlib.constants.BROTLI_PARAM_SIZE_HINT]: buf.length,
        },
      }),
    );
  }
}

// Write the new files, then remove whatever else is there (stale hashed files).
for (const [name, buf] of files) {
  await mkdir(dirname(join(out, name)), { recursive: true });
  await writeFile(join(out, name), buf);
}
for (const entry of await readdir(out, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile()) continue;
  const name = relative(out, join(entry.parentPath, entry.name));
  if (!files.has(name)) await rm(join(out, name));
}

if (!test) {
  const gz = (n) => files.get(`${n}.gz`).length;
  const br = (n) => files.get(`${n}.br`).length;
  const kb = (b) => `${(b / 1024).toFixed(1)} KB`;
  const all = [script, favicon, "index.html"];
  const sum = (f) => all.reduce((a, n) => a + f(n), 0);
  console.log(
    `dist: ${script} ${kb(js.length)} (gzip ${kb(gz(script))}, br ${kb(br(script))}); ` +
      `everything: ${kb(sum((n) => files.get(n).length))} raw, ${kb(sum(gz))} gzip, ${kb(sum(br))} br`,
  );
}
