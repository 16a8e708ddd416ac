// Types of an imported model (`import model from './resnet50.onnx'`). The plugin writes a
// `<model>.onnx.d.ts` next to each model that fills in the input and output names and dtypes.

import type {
  DType, DTypeArrayMap, DeviceTensor, FallbackEntry, Feed, LoadOptions, LoadProgress, RunOptions, Runner, Tensor,
  TensorSpec, Value,
} from 'webdnn-runtime';

export type { LoadProgress };

/** What run() accepts for an input of dtype D (a DeviceTensor: an output kept by an earlier run, see RunOptions). */
export type FeedFor<D extends string> = D extends DType
  ? DTypeArrayMap[D] | { data: DTypeArrayMap[D]; shape?: number[]; dtype?: D } | DeviceTensor
  : Feed;

/** What run() returns for an output of dtype D. */
export type OutputFor<D extends string> = D extends DType ? Tensor<D> : Value;

/** run()'s argument: every input, by name. */
export type ModelFeeds<I extends Record<string, string>> = { [K in keyof I]: FeedFor<I[K]> };

/** run()'s result: every output, by name. */
export type ModelOutputs<O extends Record<string, string>> = { [K in keyof O]: OutputFor<O[K]> };

/** load()'s options: the runtime's (backends, threads, profile, onProgress). */
export type ModelLoadOptions = LoadOptions;

/**
 * An imported model: metadata now, a runner on demand.
 * `I` / `O`: input / output names mapped to their dtypes.
 */
export interface WebdnnModel<
  I extends Record<string, string> = Record<string, string>,
  O extends Record<string, string> = Record<string, string>,
> {
  /** The model's name (its file name without extension). */
  readonly name: string;
  /** The bundle's manifest.json. */
  readonly manifest: Record<string, any>;
  /** Inputs [{ name, shape, dtype }], known without loading. */
  readonly inputs: readonly TensorSpec[];
  /** Outputs [{ name, shape, dtype }]; shapes may hold null for run-time dims. */
  readonly outputs: readonly TensorSpec[];
  /** The backends load() tries by default, in order (those the bundle was built for). */
  readonly backends: readonly string[];
  /** The backend in use once loaded; null before. */
  readonly backend: string | null;
  /** The runtime's runner once loaded; null before. */
  readonly runner: Runner | null;
  /** Backends skipped while loading, with the reasons ([] before loading). */
  readonly fallbackLog: FallbackEntry[];
  /**
   * Loads the model once (later calls return the same runner; after a failure, it tries again).
   * `backends` defaults to {@link backends}; `onProgress` reports the weights' download.
   */
  load(options?: ModelLoadOptions): Promise<Runner>;
  /** Runs the model, loading it first (with the default options) if needed; `options` are Runner.run()'s
   *  (`keep`: outputs to leave on the backend's device, returned as DeviceTensors). */
  run(feeds: ModelFeeds<I>, options?: RunOptions): Promise<ModelOutputs<O>>;
  /** Releases the runner; a later run() or load() loads again. */
  dispose(): void;
}

/** @internal Used by the generated modules. */
export function createModel(bundle: {
  name: string;
  manifest: Record<string, any>;
  files: Record<string, string>;
  backends: string[];
}): WebdnnModel;
