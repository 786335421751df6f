#!/usr/bin/env node
// Runs an ONNX model in ONNX Runtime (onnxruntime-node, CPU, 1 intra-op
// thread) so that Python tests and bench/qdq.py can execute the saved models
// in a real runtime without a Python ONNX Runtime package.
//
//   node run_onnx.js MODEL.onnx OUT_DIR IN0.npy [IN1.npy ...] [--runs N] [--warmup W]
//                    [--no-optimize] [--save-optimized FILE]
//
// Inputs are float32 .npy files (C order, little-endian), fed to the model's
// inputs in order. Each output is written to OUT_DIR/<index>.npy (float32).
// Prints one JSON line: {"outputs": [names], "times_ms": [per-run latency]}.
// With --runs N the model runs W (default 3) unmeasured times, then N timed ones.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

function parseArgs(argv) {
  const a = {files: [], runs: 1, warmup: 0, optimize: true, saveOptimized: null};
  for (let i = 0; i < argv.length; ++i) {
    if (argv[i] === '--runs') a.runs = parseInt(argv[++i], 10);
    else if (argv[i] === '--warmup') a.warmup = parseInt(argv[++i], 10);
    else if (argv[i] === '--no-optimize') a.optimize = false;
    else if (argv[i] === '--save-optimized') a.saveOptimized = argv[++i];
    else a.files.push(argv[i]);
  }
  if (a.files.length < 2 || !(a.runs >= 1)) {
    throw new Error('usage: run_onnx.js MODEL.onnx OUT_DIR IN.npy... [--runs N] [--warmup W]');
  }
  if (a.runs > 1 && a.warmup === 0) a.warmup = 3;
  return a;
}

// The .npy header: magic, version, header length, then a Python dict literal.
function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(file + ': not a .npy file');
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12);
  const header = buf.toString('latin1', start, start + headerLen);
  if (!/'descr':\s*'<f4'/.test(header)) throw new Error(file + ': only float32 (<f4) is read');
  if (/'fortran_order':\s*True/.test(header)) throw new Error(file + ': Fortran order');
  const shape = header.match(/'shape':\s*\(([^)]*)\)/)[1].split(',')
      .map((s) => s.trim()).filter((s) => s.length).map(Number);
  const offset = start + headerLen;
  // Copy: the payload offset need not be 4-byte aligned for a Float32Array view.
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset + offset, buf.byteOffset + buf.length));
  return new ort.Tensor('float32', data, shape);
}

function writeNpy(file, tensor) {
  if (tensor.type !== 'float32') throw new Error('output of type ' + tensor.type + ' (float32 expected)');
  const shape = tensor.dims.length === 1 ? `(${tensor.dims[0]},)` : `(${tensor.dims.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  const data = Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
  fs.writeFileSync(file, Buffer.concat([head, Buffer.from(header, 'latin1'), data]));
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const [model, outDir, ...inputs] = a.files;
  const options = {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: a.optimize ? 'all' : 'disabled',
  };
  if (a.saveOptimized) options.optimizedModelFilePath = a.saveOptimized;
  const session = await ort.InferenceSession.create(model, options);
  if (inputs.length !== session.inputNames.length) {
    throw new Error(`${model} has ${session.inputNames.length} inputs, ${inputs.length} given`);
  }
  const feeds = {};
  session.inputNames.forEach((name, i) => { feeds[name] = readNpy(inputs[i]); });
  for (let i = 0; i < a.warmup; ++i) await session.run(feeds);
  const times = [];
  let result = null;
  for (let i = 0; i < a.runs; ++i) {
    const t0 = process.hrtime.bigint();
    result = await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  fs.mkdirSync(outDir, {recursive: true});
  session.outputNames.forEach((name, i) => writeNpy(path.join(outDir, `${i}.npy`), result[name]));
  process.stdout.write(JSON.stringify({outputs: session.outputNames, times_ms: times}) + '\n');
}

main().catch((e) => {
  process.stderr.write(`run_onnx.js: ${e.message}\n`);
  process.exit(1);
});
