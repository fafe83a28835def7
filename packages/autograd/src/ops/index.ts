export * from './binary.ts';
export * from './creation.ts';
export * from './linalg.ts';
export * from './movement.ts';
export * from './reduce.ts';
export * from './unary.ts';
