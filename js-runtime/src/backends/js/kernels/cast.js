// Kernels: cast (being written).
export const kernels = {};
