import { defineConfig } from 'vitest/config';

// The browser test alone (`pnpm test:e2e`): one file, one worker, generous timeouts for a cold Chromium.
export default defineConfig({
  test: {
    include: ['test/**/*.e2e.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
