import { defineConfig } from 'vite';

// Relative asset URLs, so the build also works from a sub-path; the worker is an ES module like the page.
export default defineConfig({
  base: './',
  worker: { format: 'es' },
  build: { target: 'es2022', chunkSizeWarningLimit: 1024 },
  server: { fs: { allow: ['../..'] } },
});
