// Kernels: normalization (being written).
export const kernels = {};
