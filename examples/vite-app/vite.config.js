import { defineConfig } from 'vite';
import webdnn from 'vite-plugin-webdnn';

export default defineConfig({
  plugins: [
    webdnn({
      // built in this order; load() tries them in this order and falls back (model.fallbackLog)
      backends: ['webgpu', 'wasm', 'js'],
      crossOriginIsolation: true,   // COOP/COEP on `vite` and `vite preview`: wasm threads
    }),
  ],
});
