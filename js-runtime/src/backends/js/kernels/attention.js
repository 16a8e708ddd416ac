// Kernels: attention (being written).
export const kernels = {};
