import { defineConfig } from 'vite';
import webdnn from 'vite-plugin-webdnn';

export default defineConfig({
  plugins: [
    webdnn({
      backends: ['wasm', 'js'],     // built in this order; load() tries them in this order
      crossOriginIsolation: true,   // COOP/COEP on `vite` and `vite preview`: wasm threads
    }),
  ],
});
