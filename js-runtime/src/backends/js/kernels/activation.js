// Kernels: activation (being written).
export const kernels = {};
