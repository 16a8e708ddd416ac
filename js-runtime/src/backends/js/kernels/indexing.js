// Kernels: indexing (being written).
export const kernels = {};
