/** example-kit: what the TensorLoom examples share (flags, progress bar, SVG plots, markdown tables, outputs). */
export * from './files.ts';
export * from './flags.ts';
export * from './plot.ts';
export * from './progress.ts';
export * from './table.ts';
