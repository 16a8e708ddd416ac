// Test helpers: fixture projects copied under test/.tmp (inside the repository, so that
// vite-plugin-webdnn and webdnn-runtime resolve from them), models written by
// fixtures/make_models.py, a compiler wrapper that logs every run, and the browser harness of
// tests/browser/ when it is there.

import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CI, requireOrSkip } from '../../js-runtime/test/ci.js';

// a missing component skips the tests that need it, or fails them under CI=true (docs/testing.md)
export { CI, requireOrSkip, skipOrFail } from '../../js-runtime/test/ci.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const PLUGIN_DIR = path.resolve(here, '..');
export const REPO = path.resolve(PLUGIN_DIR, '..');
export const FIXTURES = path.join(here, 'fixtures');
export const TMP = path.join(here, '.tmp');
export const PYTHON = path.join(REPO, '.venv', 'bin', 'python');
export const REAL_COMPILER = path.join(REPO, '.venv', 'bin', 'webdnn-build');
const WRAPPER = path.join(FIXTURES, 'compiler-wrapper.mjs');

/** Why these tests cannot run here (null when they can; under CI=true a missing compiler fails the run). */
export const skipReason = requireOrSkip(!existsSync(REAL_COMPILER)
  ? `the compiler is not installed (${REAL_COMPILER}); run make setup`
  : null) || null;

const generated = new Map();
process.on('exit', () => {
  for (const dir of generated.values()) rmSync(dir, { recursive: true, force: true });
});

/** Writes the fixture models for `seed` (once per process) and returns their folder. */
export function models(seed = 0) {
  if (!generated.has(seed)) {
    mkdirSync(TMP, { recursive: true });
    const dir = mkdtempSync(path.join(TMP, `models-${seed}-`));
    const res = spawnSync(PYTHON, [path.join(FIXTURES, 'make_models.py'), dir, '--seed', String(seed)], { encoding: 'utf8' });
    if (res.status !== 0) throw new Error(`make_models.py failed: ${res.stderr}`);
    generated.set(seed, dir);
  }
  return generated.get(seed);
}

/**
 * Copies fixtures/<name> to a fresh folder under test/.tmp, with the models in <dir>/models/.
 * @returns {{ dir: string, log: string, compiler: string[], builds: () => string[][], cleanup: () => void }}
 *   `compiler`: the plugin option that runs the real compiler through the logging wrapper;
 *   `builds()`: argv of every `build` run so far
 */
export function project(name = 'app', { seed = 0 } = {}) {
  mkdirSync(TMP, { recursive: true });
  const dir = mkdtempSync(path.join(TMP, `${name}-`));
  cpSync(path.join(FIXTURES, name), dir, { recursive: true });
  cpSync(models(seed), path.join(dir, 'models'), { recursive: true });
  const log = path.join(dir, 'compiler.log');
  writeFileSync(log, '');
  return {
    dir,
    log,
    compiler: [process.execPath, WRAPPER, log, REAL_COMPILER],
    builds: () => readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((a) => a[0] === 'build'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Replaces a project's models with those of another seed (same names, other weights). */
export function replaceModels(dir, seed, files = ['classifier.onnx']) {
  const src = models(seed);
  for (const f of files) cpSync(path.join(src, f), path.join(dir, 'models', f));
}

/** Polls `fn` until it returns a truthy value (or throws after `ms`). */
export async function until(fn, ms = 15000, what = 'condition') {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The browser harness (tests/browser/harness.mjs), or { reason } when it cannot run here (the test
 * then skips); under CI=true an unavailable harness (Chromium) throws, so the test fails.
 */
export async function harness() {
  const file = path.join(REPO, 'tests', 'browser', 'harness.mjs');
  let reason;
  let h;
  if (!existsSync(file)) {
    reason = 'tests/browser/harness.mjs is missing';
  } else {
    h = await import(pathToFileURL(file).href);
    reason = await h.unavailableReason();
  }
  if (reason && CI) throw new Error(`CI=true and the headless Chromium harness is unavailable: ${reason}`);
  return reason ? { reason } : h;
}

/** Asserts scores ≈ expected (float32 softmax: atol 1e-6 + rtol 1e-5). */
export function assertClose(assert, actual, expected) {
  assert.equal(actual.length, expected.length);
  actual.forEach((a, i) => {
    const tol = 1e-6 + 1e-5 * Math.abs(expected[i]);
    assert.ok(Math.abs(a - expected[i]) <= tol, `output[${i}] = ${a}, onnxruntime gives ${expected[i]}`);
  });
}
