import fc from 'fast-check';
import { setPlanChecking } from './packages/autograd/src/lazy.ts';

// Property tests explore a fixed, reproducible sample on CI; set FC_SEED to explore others locally
// (a failure prints the seed and path to replay it).
fc.configureGlobal({ seed: Number(process.env.FC_SEED ?? 20261130) });

// Every kernel plan replayed in a test is checked against a new build of its DAG first.
setPlanChecking(true);
