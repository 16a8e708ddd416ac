// Kernels: shape (being written).
export const kernels = {};
