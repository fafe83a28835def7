/** The AssemblyScript source of the whole WebAssembly kernel module (see source.mjs). */
export declare function wasmModuleSource(): string;
