// Outputs kept where the backend computed them (run(feeds, { keep })), to be fed back to the next run without a
// round trip through JavaScript memory: a decoder's present key/values becoming its next past key/values
// (docs/dynamic-shapes.md). On webgpu the tensor stays in a GPU buffer: feeding it back is a GPU-to-GPU copy,
// and nothing is downloaded unless read() is called. On wasm and js it is the backend's own tensor, kept
// without the copy run() makes of the outputs it returns.

/** An output kept on the backend's device. Feed it to a later run() of the same runner; dispose() it when done. */
export class DeviceTensor {
  /**
   * @param {object} owner the Runner that made it
   * @param {{ name: string, dtype: string, shape: number[], location: 'webgpu'|'cpu', payload: any,
   *   read: () => Promise<object>, release: () => void }} parts `read`: the internal tensor, downloaded
   */
  constructor(owner, { name, dtype, shape, location, payload, read, release }) {
    this._owner = owner;
    this._payload = payload;
    this._read = read;
    this._release = release;
    this._disposed = false;
    /** The output it was kept from. */
    this.name = name;
    this.dtype = dtype;
    this.shape = [...shape];
    /** Where the data is: 'webgpu' (a GPU buffer) or 'cpu' (JavaScript memory). */
    this.location = location;
  }

  get disposed() {
    return this._disposed;
  }

  /** The backend's handle, for the runner that made it (throws once disposed). */
  _handle(runner) {
    if (this._disposed) throw new Error(`DeviceTensor '${this.name}' has been disposed`);
    if (runner !== this._owner) throw new Error(`DeviceTensor '${this.name}' belongs to another runner`);
    return this._payload;
  }

  /** Copies the data into JavaScript memory: { data, shape, dtype } (a download on webgpu). */
  async read() {
    if (this._disposed) throw new Error(`DeviceTensor '${this.name}' has been disposed`);
    return this._read();
  }

  /** Releases the device memory (a GPU buffer on webgpu). Later use throws. */
  dispose() {
    if (this._disposed) return;
    this._disposed = true;
    this._payload = null;
    this._release();
  }
}
