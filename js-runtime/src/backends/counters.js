// Process-wide resource counters (cheap: plain integer increments), for leak checks and the
// reliability measurements (bench/reliability.mjs). Read them through `resourceCounters()` of
// src/index.js.

/** GPU objects created and destroyed by the webgpu backend in this process (all runners). */
export const gpuCounters = {
  buffersCreated: 0,
  buffersDestroyed: 0,
  devicesCreated: 0,
  devicesDestroyed: 0,
  /** GPU-to-CPU copies (mapAsync of a staging buffer) and their bytes */
  readbacks: 0,
  bytesRead: 0,
};
