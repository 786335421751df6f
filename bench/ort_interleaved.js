#!/usr/bin/env node
// Times several ONNX models on one input in ONNX Runtime (onnxruntime-node,
// CPU, 1 intra-op thread), interleaved: run r of every model happens before
// run r + 1 of any, so a shared machine's changing load hits all models alike.
//
//   node ort_interleaved.js INPUT.npy RUNS MODEL.onnx[=OPTIMIZED.onnx] ... [--outputs A.npy,B.npy]
//
// Prints one JSON object: {"<model path>": [per-run latency in ms], ...}.
// With =OPTIMIZED.onnx the session also writes ORT's optimised graph there.
// With --outputs, after the timing every model also runs on each listed input,
// and "outputs": {"<model path>": [[first output, flattened], ...]} is added.
'use strict';
const path = require('path');
const ort = require(path.join(__dirname, '..', 'tests', 'ort', 'node_modules', 'onnxruntime-node'));
const fs = require('fs');

function readNpy(file) {  // float32, C order (the writer is numpy.save)
  const buf = fs.readFileSync(file);
  const headerLen = buf.readUInt16LE(8);
  const header = buf.toString('latin1', 10, 10 + headerLen);
  const shape = header.match(/'shape':\s*\(([^)]*)\)/)[1].split(',')
      .map((s) => s.trim()).filter((s) => s.length).map(Number);
  const start = buf.byteOffset + 10 + headerLen;
  return new ort.Tensor('float32', new Float32Array(buf.buffer.slice(start, buf.byteOffset + buf.length)), shape);
}

async function main() {
  const args = process.argv.slice(2);
  let outputInputs = [];
  const at = args.indexOf('--outputs');
  if (at >= 0) outputInputs = args.splice(at, 2)[1].split(',').filter((f) => f.length);
  const [input, runsText, ...models] = args;
  const runs = parseInt(runsText, 10);
  const x = readNpy(input);
  const sessions = [];
  for (const spec of models) {
    const [file, optimized] = spec.split('=');
    const options = {intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential',
                     graphOptimizationLevel: 'all'};
    if (optimized) options.optimizedModelFilePath = optimized;
    const s = await ort.InferenceSession.create(file, options);
    sessions.push({file, s, feeds: {[s.inputNames[0]]: x}, times: []});
  }
  for (let r = -3; r < runs; ++r) {  // 3 warm-up rounds
    for (const m of sessions) {
      const t0 = process.hrtime.bigint();
      await m.s.run(m.feeds);
      if (r >= 0) m.times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
  const out = {};
  for (const m of sessions) out[m.file] = m.times;
  if (outputInputs.length) {
    out.outputs = {};
    for (const m of sessions) {
      out.outputs[m.file] = [];
      for (const f of outputInputs) {
        const r = await m.s.run({[m.s.inputNames[0]]: readNpy(f)});
        out.outputs[m.file].push(Array.from(r[m.s.outputNames[0]].data));
      }
    }
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stderr.write(`ort_interleaved.js: ${e.message}\n`);
  process.exit(1);
});
