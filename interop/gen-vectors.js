// Regenerates circuits/tests/vectors/*.json with circomlibjs, the reference
// implementation of circomlib's Poseidon. Run: npm ci && npm run vectors
"use strict";
const fs = require("fs");
const path = require("path");
const { buildPoseidon } = require("circomlibjs");

const R = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;

// A small deterministic generator, so the vectors are reproducible.
function* lcg(seed) {
  let x = BigInt(seed);
  for (;;) {
    x = (x * 6364136223846793005n + 1442695040888963407n) % (1n << 128n);
    yield ((x << 128n) ^ (x * 0x9e3779b97f4a7c15n)) % R;
  }
}

async function main() {
  const poseidon = await buildPoseidon();
  const F = poseidon.F;
  const h = (xs) => F.toObject(poseidon(xs.map((x) => BigInt(x)))).toString();

  const rnd = lcg(20261125);
  const cases = [];
  for (let n = 1; n <= 12; n++) {
    const sets = [
      Array.from({ length: n }, (_, i) => BigInt(i + 1)),
      Array.from({ length: n }, () => 0n),
      Array.from({ length: n }, () => R - 1n),
      Array.from({ length: n }, () => rnd.next().value),
    ];
    for (const s of sets) {
      cases.push({ inputs: s.map(String), hash: h(s) });
    }
  }
  const outDir = path.join(__dirname, "..", "circuits", "tests", "vectors");
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(
    path.join(outDir, "poseidon.json"),
    JSON.stringify({ source: "circomlibjs 0.1.7 buildPoseidon()", cases }, null, 1) + "\n"
  );

  // Merkle registry per DESIGN §3, computed independently here.
  const depth = 6;
  const zeros = ["0"];
  for (let k = 0; k < 20; k++) zeros.push(h([zeros[k], zeros[k]]));
  const leaves = Array.from({ length: 13 }, (_, i) => h([BigInt(1000 + i)]));
  let level = leaves.slice();
  const levels = [level];
  for (let k = 0; k < depth; k++) {
    const next = [];
    for (let i = 0; i < Math.ceil(level.length / 2); i++) {
      const l = level[2 * i];
      const r = 2 * i + 1 < level.length ? level[2 * i + 1] : zeros[k];
      next.push(h([l, r]));
    }
    if (next.length === 0) next.push(zeros[k + 1]);
    level = next;
    levels.push(level);
  }
  const paths = [0, 5, 12].map((index) => {
    const elements = [];
    const indices = [];
    let i = index;
    for (let k = 0; k < depth; k++) {
      const sib = i ^ 1;
      elements.push(sib < levels[k].length ? levels[k][sib] : zeros[k]);
      indices.push(i & 1);
      i >>= 1;
    }
    return { index, leaf: leaves[index], elements, indices };
  });
  fs.writeFileSync(
    path.join(outDir, "merkle.json"),
    JSON.stringify({ source: "circomlibjs 0.1.7 buildPoseidon()", depth, zeros, leaves, root: level[0], paths }, null, 1) + "\n"
  );
  console.log(`wrote ${cases.length} poseidon cases and a depth-${depth} tree to ${outDir}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
