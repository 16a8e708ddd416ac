// Kernels: reduce (being written).
export const kernels = {};
