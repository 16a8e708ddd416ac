import type { Plugin } from 'vite';

/** A weight compression mode (docs/compression.md). */
export type QuantizeMode = 'fp16' | 'int8' | 'int4' | `int4:${16 | 32 | 64 | 128 | 256 | 512 | 1024}` | 'eightbit' | 'none';

/** Options of one model (plugin option `models`); the import query may set backends and shapes too. */
export interface WebdnnModelOptions {
  /** Backends to build, in order of preference at load time (default: the config's, else every installed one). */
  backends?: string[];
  /** Optimization passes to run instead of the default pipeline (`--passes`); [] runs none. Default: the config's, else the default pipeline. */
  passes?: string[];
  /**
   * Input shapes, e.g. { input: [1, 3, 224, 224] } (needed for models with dynamic dims). A string dim stays open,
   * sized by the feeds at run time: "?", "1..512", "seq:?", "seq:1..512" (docs/dynamic-shapes.md).
   */
  inputShapes?: Record<string, Array<number | string>>;
  /** Backend options passed as --backend-option, e.g. { wasm: { threads: false } } (`webdnn-build plugins` lists each backend's). */
  backendOptions?: Record<string, Record<string, string | number | boolean>>;
  /**
   * Weight compression (`--quantize`, docs/compression.md): 'fp16', 'int8', 'int4', 'int4:B' (B a power of two from 16
   * to 1024), 'eightbit' or 'none'; a list of MODE / PATTERN=MODE; or { pattern: mode } with '*' the default, e.g.
   * { '*': 'int8', '*attn*': 'int4:128', '*classifier*': 'none' }.
   */
  quantize?: QuantizeMode | string[] | Record<string, QuantizeMode>;
  /**
   * Bytes per weight shard (`--shard-size`, docs/bundle-format.md): a number, or a string such as '4MiB', '512KiB'
   * (units B, KiB/K, MiB/M, GiB/G); a multiple of 16 from 1 KiB to 1 GiB. Each shard is its own hashed asset,
   * fetched, verified and cached on its own. Default: the config's `shard-size`, else the compiler's (4 MiB).
   */
  shardSize?: number | ShardSize;
  /**
   * Store the weight shards deflated (`--deflate` / `--no-deflate`; the runtime inflates them). Default: the
   * config's `deflate`, else on only when some weight uses `quantize: 'eightbit'`.
   */
  deflate?: boolean;
}

/** A shard size as a string: digits and a binary unit, e.g. '4MiB', '512KiB', '1048576'. */
export type ShardSize = `${number}` | `${number}${'B' | 'K' | 'KiB' | 'M' | 'MiB' | 'G' | 'GiB' | 'k' | 'kib' | 'm' | 'mib' | 'g' | 'gib'}`;

export interface WebdnnPluginOptions extends WebdnnModelOptions {
  /**
   * The compiler: a path or command name of `webdnn-build`, or an argv prefix such as
   * ['python3', '-m', 'webdnn_build']. Default: `webdnn-build` on PATH, then `.venv/bin/webdnn-build`
   * in the project or a folder above it, then `python3 -m webdnn_build`.
   */
  compiler?: string | string[];
  /** Options per model file (paths relative to the project root). */
  models?: Record<string, WebdnnModelOptions>;
  /** The config file ([tool.webdnn-build] in pyproject.toml, or webdnn.toml); false: ignore configs. Default: the nearest one above the model. */
  config?: string | false;
  /** Where compiled bundles are cached. Default: <Vite cacheDir>/webdnn (node_modules/.vite/webdnn). */
  cacheDir?: string;
  /** Write `<model>.onnx.d.ts` next to each model (typed input/output names). Default: true. */
  dts?: boolean;
  /**
   * Serve the dev server and `vite preview` with Cross-Origin-Opener-Policy: same-origin and
   * Cross-Origin-Embedder-Policy: require-corp, so that the wasm backend can use threads. Default: false.
   */
  crossOriginIsolation?: boolean;
}

/** The headers that make a page cross-origin isolated. */
export const CROSS_ORIGIN_ISOLATION_HEADERS: Readonly<Record<string, string>>;

/** The Vite plugin: `plugins: [webdnn()]`. */
export default function webdnn(options?: WebdnnPluginOptions): Plugin;
export { webdnn };
