// The bundle's weights as the backends read them: the logical weight file (docs/bundle-format.md
// "weights") held as its shards, each a Uint8Array of at most `shardSize` bytes, so that no
// ArrayBuffer near the size of the whole model is ever made (browsers cap one at 1-2 GiB; bundles
// may be larger). A constant inside one shard is viewed in place; one that spans shards is copied
// once into an array of its own size.

export class WeightStore {
  /**
   * @param {Uint8Array[]} shards the shards in order; every one but the last holds exactly `shardSize` bytes
   * @param {number} shardSize bytes per shard (any value when there is at most one shard)
   */
  constructor(shards, shardSize) {
    this.shards = shards;
    this.shardSize = shards.length > 1 ? shardSize : Math.max(shards[0]?.byteLength ?? 0, 1);
    this.byteLength = shards.reduce((n, s) => n + s.byteLength, 0);
  }

  /** A store over one array (tests, single-file bundles). @param {Uint8Array} bytes */
  static of(bytes) {
    return new WeightStore(bytes.byteLength ? [bytes] : [], bytes.byteLength);
  }

  /**
   * Bytes [offset, offset + length) of the weight file: a view when they lie in one shard, else a
   * copy. Throws naming `what` when the range lies outside the weights.
   * @param {number} offset @param {number} length @param {string} what
   * @returns {Uint8Array}
   */
  bytes(offset, length, what = 'range') {
    if (offset + length > this.byteLength) {
      throw new Error(`${what} [${offset}, ${offset + length}) lies outside the weights (${this.byteLength} bytes)`);
    }
    if (length === 0) return new Uint8Array(0);
    const first = Math.floor(offset / this.shardSize);
    const last = Math.floor((offset + length - 1) / this.shardSize);
    const at = offset - first * this.shardSize;
    if (first === last) return this.shards[first].subarray(at, at + length);
    const out = new Uint8Array(length);
    let done = 0;
    for (let i = first; i <= last; i++) {
      const start = i === first ? at : 0;
      const piece = this.shards[i].subarray(start, Math.min(this.shards[i].byteLength, start + length - done));
      out.set(piece, done);
      done += piece.byteLength;
    }
    return out;
  }
}

/** `weights` as a WeightStore (a Uint8Array is wrapped: tests and callers holding one array). */
export function asWeightStore(weights) {
  return weights instanceof WeightStore ? weights : WeightStore.of(weights ?? new Uint8Array(0));
}

/** A typed view of `bytes` when aligned for `Ctor`, else of a copy. */
export function typedView(Ctor, bytes, n) {
  const aligned = bytes.byteOffset % Ctor.BYTES_PER_ELEMENT === 0;
  return aligned ? new Ctor(bytes.buffer, bytes.byteOffset, n) : new Ctor(bytes.slice().buffer, 0, n);
}
