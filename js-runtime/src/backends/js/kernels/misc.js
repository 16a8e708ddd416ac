// Kernels: misc (being written).
export const kernels = {};
