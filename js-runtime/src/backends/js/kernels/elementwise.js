// Kernels: elementwise (being written).
export const kernels = {};
