// Kernels: resize (being written).
export const kernels = {};
