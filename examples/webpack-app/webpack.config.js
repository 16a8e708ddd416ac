import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export default {
  mode: 'production',
  context: here,
  entry: './main.js',
  output: { path: path.join(here, 'dist'), clean: true },
  module: {
    rules: [
      // every .onnx import becomes a ready model object; weights/wasm are emitted under dist/webdnn/
      { test: /\.onnx$/, loader: 'vite-plugin-webdnn/webpack', options: { backends: ['wasm', 'js'] } },
    ],
  },
  // webpack-dev-server users: devServer.headers = COOP/COEP (see README) for wasm threads
  performance: { hints: false },
};
