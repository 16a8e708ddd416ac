import type { LoaderContext } from 'webpack';
import type { WebdnnPluginOptions } from './vite.js';

/** The loader's options: the Vite plugin's, without crossOriginIsolation (set devServer.headers instead). */
export type WebdnnLoaderOptions = Omit<WebdnnPluginOptions, 'crossOriginIsolation'>;

/** The webpack 5 loader: `{ test: /\.onnx$/, loader: 'vite-plugin-webdnn/webpack' }`. */
export default function webdnnLoader(this: LoaderContext<WebdnnLoaderOptions>, source: Buffer): void;
export const raw: true;
