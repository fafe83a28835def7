/** AssemblyScript source of the fused LSTM and GRU cell kernels (see cells-source.mjs). */
export declare const cellKernelSource: string;
