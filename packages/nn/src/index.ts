/** @tensorloom/nn: modules, layers, losses, initialisers, optimizers, schedulers, clipping and safetensors. */
export * from './module.ts';
