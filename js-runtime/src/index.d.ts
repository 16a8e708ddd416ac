// Type declarations of webdnn-runtime (see src/index.js and docs/bundle-format.md).

/** Element types of bundle tensors. */
export type DType =
  | 'float32' | 'float64' | 'float16' | 'bfloat16'
  | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64'
  | 'bool' | 'string';

/**
 * Element storage of each dtype at the API boundary: 64-bit integers as BigInt arrays,
 * bool as one byte per element, float16/bfloat16 as 16-bit patterns, strings as plain arrays.
 */
export interface DTypeArrayMap {
  float32: Float32Array;
  float64: Float64Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  int16: Int16Array;
  uint16: Uint16Array;
  int32: Int32Array;
  uint32: Uint32Array;
  int64: BigInt64Array;
  uint64: BigUint64Array;
  bool: Uint8Array;
  string: string[];
}

/** Any array a tensor's data may be. */
export type TensorData = DTypeArrayMap[DType];

/** A tensor at the API boundary: row-major `data` with `product(shape)` elements. */
export interface Tensor<D extends DType = DType> {
  data: DTypeArrayMap[D];
  shape: number[];
  dtype: D;
}

/** What run() accepts per tensor input: a tensor (shape/dtype optional when the model fixes them) or a bare array. */
export type TensorFeed = TensorData | { data: TensorData; shape?: number[]; dtype?: DType };

/**
 * What run() accepts per input: a tensor feed; for a sequence input (dtype "sequence<T>") an Array of
 * `{ data, shape }`; for an optional input (dtype "optional<T>") null (empty) or a value of T.
 */
export type Feed = TensorFeed | Array<TensorFeed> | DeviceTensor | null;

/** What run() returns per output: a Tensor, an Array of Tensors (sequence), or null (empty optional); a
 *  DeviceTensor for the outputs named in run()'s `keep` option. */
export type Value = Tensor | Tensor[] | DeviceTensor | null;

/**
 * An output kept where the backend computed it (`run(feeds, { keep: [names] })`), to feed to a later run() of
 * the same runner without a round trip through JavaScript: a decoder's present key/values becoming its next
 * past key/values. On webgpu it is a GPU buffer of its own (feeding it back is a GPU-to-GPU copy; nothing is
 * downloaded unless read() is called); on wasm and js, the data in JavaScript memory (docs/dynamic-shapes.md).
 */
export declare class DeviceTensor {
  /** The output it was kept from. */
  readonly name: string;
  readonly dtype: DType;
  readonly shape: number[];
  /** Where the data is: a GPU buffer ('webgpu') or JavaScript memory ('cpu'). */
  readonly location: 'webgpu' | 'cpu';
  readonly disposed: boolean;
  /** Copies the data to JavaScript memory (a download on webgpu). */
  read(): Promise<Tensor>;
  /** Releases the device memory; later use (read, or as a feed) throws. runner.dispose() releases the rest. */
  dispose(): void;
}

/** run()'s options. */
export interface RunOptions {
  /** Tensor outputs to keep on the backend's device: returned as DeviceTensors (see DeviceTensor). */
  keep?: string[];
}

/**
 * A model input or output as declared in the manifest. A dim left open at build time (`--input-shape x=1,?`) is
 * its name (a string; its range is in `manifest.dims`): feeds give its size, and inputs sharing the name must
 * agree. Output shapes may also hold null for dims known only at run time.
 * Sequence / optional values have a dtype like "sequence<float32>" / "optional<float32>" and shape null.
 */
export interface TensorSpec {
  name: string;
  shape: Array<number | string | null> | null;
  dtype: DType | (string & {});
}

/** Names of the backends this runtime knows. */
export type BackendName = 'webgpu' | 'wasm' | 'js';

export interface LoadOptions {
  /** Backends to try, in order of preference. Default: ['webgpu', 'wasm', 'js']. */
  backends?: Array<BackendName | (string & {})> | BackendName | (string & {});
  /**
   * Threads of the wasm backend (a positive integer). Default: the available cores
   * (navigator.hardwareConcurrency / os.availableParallelism()), capped by the module's maxThreads
   * and at 8. 1 forces the single-threaded module. Threads need SharedArrayBuffer (in browsers: a
   * cross-origin isolated page); without it the backend silently runs single-threaded
   * (see Runner.threadInfo).
   */
  threads?: number;
  /** Record per-step timings (see Runner.profile()); costs a timer read per step. */
  profile?: boolean;
  /**
   * Called as the weight shards arrive (several fetched at once, each streamed): bytes of all shards
   * so far and in all (stored bytes: what travels), never decreasing. The last call has
   * `loaded === total`; a bundle without weights reports `{ loaded: 0, total: 0 }` once. Shards
   * served from the browser cache count as arrived at once.
   */
  onProgress?: (progress: LoadProgress) => void;
  /**
   * Browsers: keep weight shards in the Cache API, keyed by their SHA-256, so that a reload (or
   * another model sharing a shard) downloads nothing. Default true; false neither reads nor writes
   * the cache. A full storage quota only warns (shards then stay in memory). Node has no cache.
   */
  cache?: boolean;
  /**
   * Options of the webgpu backend. In browsers it uses navigator.gpu; in Node the optional npm
   * package `webgpu` (Dawn), which needs a Vulkan/Metal/D3D12 driver (tools/setup-webgpu.sh sets up
   * a software one on Debian). Dispose the runner before the Node process exits (it holds a device).
   */
  webgpu?: {
    /**
     * A GPUDevice to run on (e.g. shared with the application): the backend then checks its limits
     * and features instead of requesting a device, and dispose() does not destroy it.
     */
    device?: any;
    /** Passed to requestAdapter(). */
    powerPreference?: 'low-power' | 'high-performance';
  };
  /** @internal Testing hooks of the webgpu backend's availability checks. */
  webgpuHooks?: {
    /** Replaces navigator.gpu / Dawn's GPU (null: behave as if there were no WebGPU). */
    gpu?: any;
    /** Replaces `import('webgpu')` in Node. */
    importWebGPU?: () => Promise<any>;
  };
  /** @internal Testing hooks of the wasm backend's availability checks. */
  wasmHooks?: {
    /** Replaces globalThis.WebAssembly (null: behave as if WebAssembly were missing). */
    WebAssembly?: any;
    /** Replaces WebAssembly.validate for the SIMD probe. */
    validate?: (bytes: Uint8Array) => boolean;
  };
}

/** What LoadOptions.onProgress receives. */
export interface LoadProgress {
  /** The shard that arrived last, e.g. `weights/003.bin`. */
  file: string;
  loaded: number;
  total: number;
}

/**
 * A bundle whose files live at URLs of their own (what bundler plugins emit: hashed asset names):
 * each file's URL (or, in Node, path) by its path in the bundle, e.g. `{ 'weights/000.bin': '/assets/000-1a2b.bin' }`.
 */
export interface BundleFiles {
  files: Record<string, string | URL>;
  /** manifest.json, already parsed (else it is read from files['manifest.json']). */
  manifest?: Record<string, any>;
  /** Names the bundle in error messages. */
  label?: string;
}

/** How the wasm backend chose its thread count. */
export interface ThreadInfo {
  /** Threads in use (the main thread included). */
  threads: number;
  /** options.threads, or null when not given. */
  requested: number | null;
  /** Why fewer threads than requested (or than the default) are used; null when nothing limited it. */
  reason: string | null;
}

/** A backend skipped by load() (or, with phase 'run', given up after load), and why. */
export interface FallbackEntry {
  backend: string;
  reason: string;
  /**
   * 'run': recorded after load, when the WebGPU device was lost and the runner moved on to the next
   * backend of the preference list (the lost one: reason "the device was lost (...)"; backends that
   * then failed to load: their reason). Absent for entries made by load().
   */
  phase?: 'run';
}

/** What Runner.stats() returns (counters for leak checks). */
export interface RunnerStats {
  /** The backend in use. */
  backend: string;
  /** Runs that completed on this runner. */
  runs: number;
  /** Live GPU buffers of this runner (created minus destroyed; 0 off the webgpu backend and after dispose). */
  gpuBuffers: number;
  /** The wasm backend's memory size in bytes (0 on other backends and after dispose). */
  wasmMemoryBytes: number;
  disposed: boolean;
}

/** What resourceCounters() returns: GPU objects of the webgpu backend over all runners of the process. */
export interface ResourceCounters {
  /** Buffers created minus destroyed. */
  gpuBuffersLive: number;
  gpuBuffersCreated: number;
  gpuBuffersDestroyed: number;
  /** Devices the backend requested minus those it destroyed (callers' devices are not counted). */
  gpuDevicesLive: number;
  gpuDevicesCreated: number;
  gpuDevicesDestroyed: number;
  /** Downloads from the GPU (each waits for the GPU) and their bytes. */
  gpuReadbacks: number;
  gpuBytesRead: number;
}

/** A loaded model on one backend; created by load(). */
export class Runner {
  private constructor();
  /**
   * The backend in use. Changes after load only when the WebGPU device is lost: the run that meets
   * the loss moves on to the next backend of the preference list (see fallbackLog).
   */
  readonly backend: string;
  readonly inputs: TensorSpec[];
  readonly outputs: TensorSpec[];
  /**
   * Backends tried before this one, with the reasons they were skipped; after a lost WebGPU device,
   * also entries with phase 'run' (docs/webgpu-backend.md, "Device loss").
   */
  readonly fallbackLog: FallbackEntry[];
  /** The bundle's manifest.json. */
  readonly manifest: Record<string, any>;
  /** Threads the backend computes with (1 except for the wasm backend's threaded module). */
  readonly threads: number;
  /** The wasm backend's thread choice; null for other backends. */
  readonly threadInfo: ThreadInfo | null;
  /**
   * Runs the model; outputs are freshly allocated (safe to keep across runs). Runs on one runner are
   * queued and executed one after another; concurrent calls each get their own result.
   * Rejects on invalid feeds, kernel errors, or after dispose() (Error "run(): this runner has been
   * disposed"). When the WebGPU device is lost, the run is retried on the next backend of the
   * preference list; with none left it rejects with "the WebGPU device was lost ...; load the model
   * again" (the Error has `fallbackLog`), and so do later runs. `options.keep` names outputs to leave on the
   * backend's device (DeviceTensor); a DeviceTensor of this runner is accepted as a feed.
   */
  run(feeds: Record<string, Feed> | Map<string, Feed>, options?: RunOptions): Promise<Record<string, Value>>;
  /**
   * Per-step timings since load, slowest first, when loaded with `{ profile: true }` (wasm backend);
   * otherwise null.
   */
  profile(): { step: string; ms: number; runs: number }[] | null;
  /** Counters for leak checks (cheap: no GPU or wasm call). */
  stats(): RunnerStats;
  /**
   * Releases the backend's memory (GPU buffers, the device it requested, wasm memory, workers); the
   * runner cannot run afterwards. Runs still queued reject with "run(): this runner has been
   * disposed"; a run already executing completes first and the memory is released right after it.
   * The promise resolves once the memory is released (at once when no run is executing); calling
   * dispose() again returns the same promise.
   */
  dispose(): Promise<void>;
}

/** Process-wide counters of the GPU buffers and devices the webgpu backend holds (for leak checks). */
export function resourceCounters(): ResourceCounters;

/** Error thrown by load() when no backend could be used. */
export interface NoBackendError extends Error {
  fallbackLog: FallbackEntry[];
}

/**
 * Loads a bundle folder (file path in Node, URL in browsers or Node) on the first usable backend.
 * @throws Error naming the bundle for invalid bundles; an Error listing every backend's reason when none works.
 */
export function load(source: string | URL | BundleFiles, options?: LoadOptions): Promise<Runner>;

/** A tensor inside the js backend (float16/bfloat16 stored as Float32Array). */
export interface KernelTensor {
  dtype: DType;
  shape: number[];
  data: Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array
    | Int32Array | Uint32Array | BigInt64Array | BigUint64Array | string[];
}

/** The context a js kernel receives. */
export interface KernelContext {
  /** Opset of the default ONNX domain. */
  opset: number;
  opType: string;
  domain: string;
  /** Node name. */
  name: string;
  /** A zero-filled tensor for output `index` (backed by the planned arena slot when it fits). */
  output(index: number, shape: number[], dtype: DType): KernelTensor;
  /** Runs a subgraph attribute (If/Loop/Scan bodies) with its formal inputs; returns its outputs. */
  runSubgraph(graph: unknown, inputs: KernelValue[]): KernelValue[];
}

/** A value inside the js backend: a tensor, a sequence (Array of tensors) or an empty optional (null). */
export type KernelValue = KernelTensor | KernelTensor[] | null;

/** A js-backend kernel: returns one tensor per node output (null for omitted optional outputs). */
export type Kernel = (
  inputs: Array<KernelTensor | null>,
  attrs: Record<string, any>,
  ctx: KernelContext,
) => Array<KernelTensor | null>;

/** Registers a js-backend kernel for a custom op (domain '' is the default ONNX domain). */
export function registerKernel(opType: string, fn: Kernel, domain?: string): void;

/**
 * What a backend's executor takes and gives: tensors as `{ dtype, shape, data }` (float16/bfloat16
 * data as Float32Array).
 */
export interface BackendTensor {
  dtype: string;
  shape: number[];
  data: any;
}

/** A backend's executor for one loaded bundle. */
export interface BackendExecutor {
  /** One run: feeds by input name; returns every graph output by name (or a promise of them). */
  run(feeds: Map<string, BackendTensor>): Map<string, BackendTensor> | Promise<Map<string, BackendTensor>>;
  /** Releases what the executor holds (buffers, workers, devices it created). */
  dispose(): void;
  /** Threads it runs on (default 1). */
  threads?: number;
}

/** The bundle as a backend's create() sees it. */
export interface BackendBundle {
  /** manifest.json, checked. */
  manifest: Record<string, any>;
  /** Names the bundle in messages. */
  label: string;
  /** A JSON file of the bundle (path relative to its root, kept inside it; `field` names where the path was read). */
  readJSON(path: string, field?: string): Promise<any>;
  /** A file of the bundle as bytes (its SHA-256 checked when the manifest's integrity lists it). */
  readBytes(path: string, onBytes?: (loaded: number) => void, field?: string): Promise<Uint8Array>;
  /** The weights (shards read, verified and inflated once); decode constants with decodeConstant(). */
  weights(): Promise<any>;
}

/**
 * A backend: `create(bundle, entry, options)` (entry: the manifest's backends[name], options: load()'s)
 * returns its executor; a backend that cannot run here gives `unavailable` (the reason) instead.
 */
export interface BackendDefinition {
  create?(bundle: BackendBundle, entry: Record<string, any>, options: LoadOptions): Promise<BackendExecutor> | BackendExecutor;
  unavailable?: string;
}

/**
 * Registers (or replaces) a backend by name (lower-case letters, digits and '-'); load()'s `backends`
 * then accepts it. The built-in webgpu, wasm and js backends are registered this way; a backend plugin
 * can also ship its runtime part in the bundle (manifest backends[name].runtime: an ES module
 * exporting `backend`), which load() registers when asked for that backend.
 */
export function registerBackend(name: string, backend: BackendDefinition): void;

/** Decodes a constant descriptor of a bundle against its weights (for backends: docs/bundle-format.md). */
export function decodeConstant(desc: Record<string, any>, weights: any): BackendTensor;
