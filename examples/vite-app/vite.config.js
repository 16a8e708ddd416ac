import { defineConfig } from 'vite';
import webdnn from 'vite-plugin-webdnn';

export default defineConfig({
  // two pages: the digits classifier (index.html) and text generation with a KV cache (decoder.html)
  build: { rollupOptions: { input: ['index.html', 'decoder.html'] } },
  plugins: [
    webdnn({
      // built in this order; load() tries them in this order and falls back (model.fallbackLog)
      backends: ['webgpu', 'wasm', 'js'],
      crossOriginIsolation: true,   // COOP/COEP on `vite` and `vite preview`: wasm threads
    }),
  ],
});
