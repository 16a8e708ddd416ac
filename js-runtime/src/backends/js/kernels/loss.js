// Kernels: loss (being written).
export const kernels = {};
