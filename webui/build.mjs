// Builds the web UI into dist/: content-hashed script chunks and favicon under
// assets/, an index.html that names them by relative URL (so the UI works under
// any base path) and preloads what the entry imports, and a precompressed .gz
// and .br beside every file. The output is deterministic — same sources, same
// bytes — because CI checks that the committed dist/ equals a fresh build.
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

// The production build is split (ESM, splitting: true): the entry ("app") has
// what the first paint needs; src/secondary.ts, which tr-app imports dynamically,
// becomes a chunk of its own; code both need goes into shared chunks that the
// entry imports statically (index.html preloads those). The test build is one
// file: esbuild inlines the dynamic import there.
const result = await esbuild.build({
  absWorkingDir: root, // the metafile's paths are relative to it
  entryPoints: { app: entry },
  bundle: true,
  minify: !test,
  format: "esm",
  splitting: !test,
  target: "es2022",
  write: false,
  outdir: join(root, "out"), // names only: nothing is written
  entryNames: "[name]-[hash]",
  chunkNames: "[name]-[hash]",
  metafile: true,
  loader: { ".svg": "text" },
  legalComments: "none",
  charset: "utf8",
  sourcemap: test ? "inline" : false,
  logLevel: "warning",
  plugins: [minifyTemplates], // in the test build too: the tests run what ships
});

// Rename every output to "assets/<name>-<12 hex digits of its sha256>.js", as the
// other assets are named (and as the Go server recognises hashed files). A file's
// imports are renamed first and its references to them rewritten, so its hash
// covers theirs: a change anywhere renames every file that leads to it.
const outputs = new Map(); // esbuild's path relative to outdir -> { contents, meta }
for (const f of result.outputFiles) {
  const name = relative(join(root, "out"), f.path).replaceAll("\\", "/");
  outputs.set(name, { contents: f.contents, meta: result.metafile.outputs[relative(root, f.path).replaceAll("\\", "/")] });
}
const final = new Map(); // esbuild's name -> final name under assets/
const finalJS = new Map(); // final name -> contents
const rename = (name, seen = new Set()) => {
  if (final.has(name)) return final.get(name);
  if (seen.has(name)) throw new Error(`build: an import cycle through ${name}`);
  seen.add(name);
  const o = outputs.get(name);
  let text = Buffer.from(o.contents).toString("utf8");
  for (const imp of o.meta.imports) {
    if (imp.external) continue;
    const dep = relative(join(root, "out"), join(root, imp.path)).replaceAll("\\", "/");
    const to = rename(dep, seen);
    // The references are "./<name>" (every output is in one directory).
    const from = `"./${dep}"`;
    if (!text.includes(from)) throw new Error(`build: ${name} does not name ${dep} as expected`);
    text = text.replaceAll(from, `"./${to.slice("assets/".length)}"`);
  }
  const buf = Buffer.from(text);
  const base = name.replace(/-[A-Z0-9]+\.js$/, "");
  const to = `assets/${base}-${hash(buf)}.js`;
  final.set(name, to);
  finalJS.set(to, { contents: buf, meta: o.meta });
  return to;
};
for (const name of outputs.keys()) rename(name);
const entryName = [...outputs].find(([, o]) => o.meta.entryPoint)?.[0];
const script = final.get(entryName);
// What the entry imports statically (transitively): loaded at once, so preloaded.
const preload = [];
const walk = (name) => {
  for (const imp of outputs.get(name).meta.imports) {
    if (imp.kind !== "import-statement") continue;
    const dep = relative(join(root, "out"), join(root, imp.path)).replaceAll("\\", "/");
    if (!preload.includes(final.get(dep))) preload.push(final.get(dep)), walk(dep);
  }
};
walk(entryName);

const icon = await readFile(join(root, "src/favicon.svg"));
const files = new Map(); // path relative to out -> contents
const favicon = `assets/favicon-${hash(icon)}.svg`;
for (const [name, { contents }] of finalJS) files.set(name, contents);
files.set(favicon, icon);
const template = await readFile(join(root, "src/index.html"), "utf8");
const preloads = [script, ...preload].map((p) => `<link rel="modulepreload" href="${p}">`).join("\n");
files.set(
  "index.html",
  Buffer.from(template.replaceAll("{{preload}}", preloads).replaceAll("{{script}}", script).replaceAll("{{favicon}}", favicon)),
);

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
  const line = (n) => `${n} ${kb(files.get(n).length)} (gzip ${kb(gz(n))}, br ${kb(br(n))})`;
  // What index.html loads: itself, its icon, the entry and the chunks it imports.
  const first = ["index.html", favicon, script, ...preload];
  const sum = (f) => first.reduce((a, n) => a + f(n), 0);
  const lazy = [...finalJS.keys()].filter((n) => !first.includes(n));
  console.log(
    `dist: ${[script, ...preload].map(line).join("; ")}\n` +
      `what index.html loads: ${kb(sum((n) => files.get(n).length))} raw, ${kb(sum(gz))} gzip, ${kb(sum(br))} br\n` +
      `on demand: ${lazy.map(line).join("; ")}`,
  );
}
