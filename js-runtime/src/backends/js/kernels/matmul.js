// Kernels: matmul (being written).
export const kernels = {};
