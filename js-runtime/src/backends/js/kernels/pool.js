// Kernels: pool (being written).
export const kernels = {};
