// Types for `import model from './x.onnx'` where no generated `x.onnx.d.ts` exists yet (and for
// imports with a query). Add to tsconfig: "types": ["vite-plugin-webdnn/client"], or
// /// <reference types="vite-plugin-webdnn/client" />

declare module '*.onnx' {
  import type { WebdnnModel } from 'vite-plugin-webdnn/model';
  const model: WebdnnModel;
  export default model;
}
