/**
 * @tensorloom/onnx: exports TensorLoom models to ONNX (opset 17+), for ONNX Runtime in Node, the browser
 * (`onnxruntime-web`), servers and phones. See `exportOnnx` for what exports.
 */
export { type ExportOptions, exportOnnx } from './export.ts';
export { LogSoftmax, Softmax } from './modules.ts';
