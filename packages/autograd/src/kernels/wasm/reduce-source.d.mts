/** AssemblyScript source of the float32 axis sum (see reduce-source.mjs). */
export declare const reduceKernelSource: string;
