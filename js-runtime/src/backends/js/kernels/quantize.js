// Kernels: quantize (being written).
export const kernels = {};
