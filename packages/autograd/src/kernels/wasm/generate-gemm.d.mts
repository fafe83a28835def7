/** Generator parameters of the wasm GEMM (see generate-gemm.mjs). */
export interface GemmParams {
  readonly kc: number;
  readonly mc: number;
  readonly nc: number;
  readonly unroll: number;
}

/** The parameters the committed kernel is built with. */
export declare const defaultGemmParams: Readonly<GemmParams>;

/** Returns the AssemblyScript source text of the GEMM kernel for the given parameters. */
export declare function generateGemmSource(params?: GemmParams): string;
