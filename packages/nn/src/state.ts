import type { Tensor } from '@tensorloom/autograd';

/**
 * A training state as a tree: tensors plus JSON values. Module, optimizer and scheduler state dicts are
 * all of this form, so one serializer (safetensors for the tensors, JSON metadata for the rest) saves them all.
 */
export type StateValue = Tensor | number | string | boolean | null | StateValue[] | { [key: string]: StateValue };
