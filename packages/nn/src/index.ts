/** @tensorloom/nn: modules, layers, losses, initialisers, optimizers, schedulers, clipping and safetensors. */
export * from './clip.ts';
export * from './functional.ts';
export * as init from './init.ts';
export * from './layers.ts';
export * from './losses.ts';
export * from './module.ts';
export * from './optim.ts';
export * from './safetensors.ts';
export * from './schedulers.ts';
export * from './state.ts';
