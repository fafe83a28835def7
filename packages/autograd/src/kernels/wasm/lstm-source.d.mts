/** AssemblyScript source of the fused LSTM cell kernels (see lstm-source.mjs). */
export declare const lstmKernelSource: string;
