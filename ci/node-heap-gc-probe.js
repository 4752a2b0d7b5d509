// A diagnostic for docs/performance.md ("Why the fixed cooldown's 5-minute estimate
// was noisy"): preloaded into a Node target, it reads the live JS heap right after a
// full collection once a second, alternating V8's low-memory notification
// (HeapProfiler.collectGarbage, what the heap probe used to run) and one gc(), and
// writes "epoch_ms<TAB>kind<TAB>pause_ms<TAB>heap_used" lines to $PROBE_OUT.
//   target/release/soak live --duration 3m --no-heap --plan cooldowns \
//     --cmd "node --expose-gc -r ./ci/node-heap-gc-probe.js live/tests/fixtures/cooldown-server.js"
// PROBE_KIND=cg or gc reads with one kind only.
'use strict';
const inspector = require('inspector');
const s = new inspector.Session(); s.connect();
const post = (m, p) => new Promise((res, rej) => s.post(m, p || {}, (e, r) => e ? rej(e) : res(r)));
const gc = require('vm').runInNewContext('gc');
const fs = require('fs');
const out = fs.openSync(process.env.PROBE_OUT || 'node-heap-gc-probe.tsv', 'w');
(async () => {
  await post('HeapProfiler.startSampling', { samplingInterval: 32768 });
  await new Promise(r => setTimeout(r, 15000));
  for (let i = 0; ; i++) {
    const kind = process.env.PROBE_KIND || (i % 2 ? 'gc' : 'cg');
    const t = process.hrtime.bigint();
    if (kind === 'cg') await post('HeapProfiler.collectGarbage'); else gc();
    const d = Number(process.hrtime.bigint() - t) / 1e6;
    fs.writeSync(out, `${Date.now()}\t${kind}\t${d.toFixed(2)}\t${process.memoryUsage().heapUsed}\n`);
    await new Promise(r => setTimeout(r, 1000));
  }
})();
