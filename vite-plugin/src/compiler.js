// The one external tool: the webdnn-build compiler (Python). Located through the `compiler` option,
// then PATH, then a .venv of the project (or a folder above it), then `python3 -m webdnn_build`.
// Always run with an argv list (never through a shell), speaking JSON on stdout (`build --json`).

import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import { PluginError } from './options.js';

const isWindows = process.platform === 'win32';
const EXE = isWindows ? 'webdnn-build.exe' : 'webdnn-build';

async function executable(p) {
  try {
    await access(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && (await executable(path.join(dir, name)))) return path.join(dir, name);
  }
  return null;
}

/** Runs argv without a shell; resolves to { code, stdout, stderr } (rejects when it cannot start). */
export function run(argv, { cwd } = {}) {
  return new Promise((resolve, reject) => {
    let child;
    try {
      child = spawn(argv[0], argv.slice(1), { cwd, shell: false, stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
    } catch (e) {
      reject(e);
      return;
    }
    const out = [];
    const err = [];
    child.stdout.on('data', (b) => out.push(b));
    child.stderr.on('data', (b) => err.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({
      code: code ?? (signal ? 128 : 1),
      stdout: Buffer.concat(out).toString('utf8'),
      stderr: Buffer.concat(err).toString('utf8'),
    }));
  });
}

/** The compiler's error lines ("webdnn-build: error: ...") without the prefix; else the last lines. */
export function errorLines(stderr) {
  const lines = stderr.split(/\r?\n/);
  const errors = lines.filter((l) => l.startsWith('webdnn-build: error: ')).map((l) => l.slice('webdnn-build: error: '.length));
  if (errors.length) return errors;
  return lines.map((l) => l.trimEnd()).filter(Boolean).slice(-8);
}

/** Node name and op type from a compiler message: "... node 'NAME' (OpType) ...". */
export function nodeOf(message) {
  const m = /node '((?:[^'\\]|\\.)*)' \(([^)]+)\)/.exec(message);
  return m ? { node: m[1], opType: m[2] } : null;
}

export class Compiler {
  /**
   * @param {{ command?: string | string[], root: string }} options `command`: the `compiler` option
   */
  constructor({ command, root }) {
    this.command = command;
    this.root = root;
    /** Number of `build` runs (the rest are cache hits). */
    this.builds = 0;
    this._argv = null;
    this._versions = null;
  }

  /** The argv prefix that runs the compiler. */
  argv() {
    this._argv ??= this._locate();
    return this._argv;
  }

  async _locate() {
    if (this.command) {
      const [head, ...rest] = Array.isArray(this.command) ? this.command : [this.command];
      // a bare name is looked up on PATH by spawn; a path is taken relative to the project root
      const exe = /[\\/]/.test(head) ? path.resolve(this.root, head) : head;
      return [exe, ...rest];
    }
    const found = await onPath(EXE);
    if (found) return [found];
    for (let d = this.root; ; d = path.dirname(d)) {
      const venv = path.join(d, '.venv', isWindows ? 'Scripts' : 'bin', EXE);
      if (await executable(venv)) return [venv];
      if (path.dirname(d) === d) break;
    }
    return [isWindows ? 'python' : 'python3', '-m', 'webdnn_build'];
  }

  async _run(args) {
    const argv = [...(await this.argv()), ...args];
    try {
      return await run(argv, { cwd: this.root });
    } catch (e) {
      throw new PluginError(
        `cannot run the webdnn-build compiler (${argv[0]}: ${e.code === 'ENOENT' ? 'not found' : e.message}). ` +
        'Install it (pip install webdnn-build) or set the `compiler` option to its path.',
      );
    }
  }

  /**
   * Compiler and plugin versions (part of every cache key); asked once per instance.
   * @returns {Promise<{ compiler: string, plugins: Array<[string, string]> }>}
   */
  versions() {
    this._versions ??= (async () => {
      const [v, p] = await Promise.all([this._run(['--version']), this._run(['plugins', '--json'])]);
      if (v.code !== 0 || p.code !== 0) {
        const bad = v.code !== 0 ? v : p;
        const argv = await this.argv();
        throw new PluginError(`the webdnn-build compiler (${argv.join(' ')}) does not work: ${errorLines(bad.stderr).join('\n') || `exit code ${bad.code}`}. ` +
          'Install it (pip install webdnn-build) or set the `compiler` option to its path.');
      }
      let plugins;
      try {
        plugins = JSON.parse(p.stdout).map((x) => [x.distribution, x.version]).sort();
      } catch {
        throw new PluginError(`webdnn-build plugins --json printed no JSON: ${p.stdout.slice(0, 200)}`);
      }
      return { compiler: v.stdout.trim().replace(/^webdnn-build\s+/, ''), plugins };
    })();
    this._versions.catch(() => { this._versions = null; });
    return this._versions;
  }

  /**
   * Builds one model into `out` (the compiler writes it atomically).
   * @param {string} model absolute path
   * @param {string} out bundle folder
   * @param {{ backends?: string[], passes?: string[], inputShapes: Record<string, number[]>, backendOptions: Record<string, object>,
   *   quantize?: string[], shardSize?: number, deflate?: boolean }} options `shardSize` in bytes
   * @returns {Promise<object>} the compiler's JSON result for the model
   * @throws {PluginError} with `file`, `node`, `opType` (where the compiler names them) and `compilerOutput`
   */
  async build(model, out, options) {
    const args = ['build', model, '-o', out, '--json', '-q'];
    if (options.backends?.length) args.push('--backends', options.backends.join(','));
    // undefined: the compiler's default pipeline; [] : no passes
    if (options.passes) args.push(...(options.passes.length ? ['--passes', options.passes.join(',')] : ['--no-passes']));
    for (const [name, dims] of Object.entries(options.inputShapes ?? {})) args.push('--input-shape', `${name}=${dims.join(',')}`);
    for (const [backend, table] of Object.entries(options.backendOptions ?? {})) {
      for (const [k, v] of Object.entries(table)) args.push('--backend-option', `${backend}.${k}=${v}`);
    }
    for (const q of options.quantize ?? []) args.push('--quantize', q); // (docs/compression.md)
    // weight shards (docs/bundle-format.md): bytes per shard, stored deflated; absent: the compiler's defaults
    if (options.shardSize !== undefined) args.push('--shard-size', String(options.shardSize));
    if (options.deflate !== undefined) args.push(options.deflate ? '--deflate' : '--no-deflate');
    this.builds++;
    const res = await this._run(args);
    if (res.code !== 0) {
      const lines = errorLines(res.stderr);
      const detail = lines.join('\n') || `webdnn-build exited with code ${res.code}`;
      // the compiler starts its messages with the model path; the caller names the file itself
      const text = detail.startsWith(`${model}: `) ? detail.slice(model.length + 2) : detail;
      throw new PluginError(text, { file: model, ...nodeOf(detail), compilerOutput: res.stderr });
    }
    try {
      return JSON.parse(res.stdout).results[0];
    } catch {
      throw new PluginError(`webdnn-build build --json printed no JSON result: ${res.stdout.slice(0, 200)}`, { file: model });
    }
  }
}
