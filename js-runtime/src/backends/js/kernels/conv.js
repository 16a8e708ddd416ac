// Kernels: conv (being written).
export const kernels = {};
