// Regenerates circuits/tests/vectors/babyjubjub.json and poseidon_cipher.json
// with zk-kit's @zk-kit/baby-jubjub and @zk-kit/poseidon-cipher, and
// cross-checks every BabyJubJub result against circomlibjs's babyjub.
// Inputs are fixed, so the files are reproducible.
// Run: npm ci && npm run vectors
"use strict";
const fs = require("fs");
const path = require("path");
const assert = require("assert");
const bjj = require("@zk-kit/baby-jubjub");
const cipher = require("@zk-kit/poseidon-cipher");
const { buildBabyjub } = require("circomlibjs");

const L = bjj.subOrder;
const ID = [0n, 1n];

// The same small deterministic generator as gen-vectors.js, reduced mod m.
function* lcg(seed, m) {
  let x = BigInt(seed);
  for (;;) {
    x = (x * 6364136223846793005n + 1442695040888963407n) % (1n << 128n);
    yield ((x << 128n) ^ (x * 0x9e3779b97f4a7c15n)) % m;
  }
}

const s = (p) => [p[0].toString(), p[1].toString()];
const eq = (a, b) => a[0] === b[0] && a[1] === b[1];

async function main() {
  const cj = await buildBabyjub();
  const F = cj.F;
  const toCj = (p) => [F.e(p[0]), F.e(p[1])];
  const fromCj = (p) => [F.toObject(p[0]), F.toObject(p[1])];
  // Every operation through zk-kit, checked against circomlibjs.
  const add = (a, b) => {
    const r = bjj.addPoint(a, b);
    assert.deepStrictEqual(fromCj(cj.addPoint(toCj(a), toCj(b))), r);
    return r;
  };
  const mul = (p, k) => {
    const r = bjj.mulPointEscalar(p, k);
    assert.deepStrictEqual(fromCj(cj.mulPointEscalar(toCj(p), k)), r);
    return r;
  };
  const inSubgroup = (p) => bjj.inCurve(p) && eq(mul(p, L), ID);

  const rnd = lcg(20261208, L);
  const generator = fromCj(cj.Generator); // order 8*l
  const t8 = mul(generator, L); // order 8
  const t2 = [0n, bjj.r - 1n]; // order 2
  // (1/sqrt(a), 0) has order 4.
  const t4 = [F.toObject(F.sqrt(F.inv(F.e(168700n)))), 0n];
  assert(bjj.inCurve(t4) && eq(add(t4, t4), t2));

  const subgroup = [bjj.Base8, mul(bjj.Base8, 2n), mul(bjj.Base8, rnd.next().value), mul(bjj.Base8, L - 1n)];
  const outside = [generator, t8, t2, t4, add(subgroup[2], t8), add(subgroup[1], t2)];
  const points = [];
  for (const p of [...subgroup, ...outside, ID]) {
    assert(bjj.inCurve(p) && cj.inCurve(toCj(p)));
    points.push({ point: s(p), in_subgroup: inSubgroup(p) });
  }

  const adds = [];
  const all = [...subgroup, ...outside, ID];
  for (let i = 0; i < all.length; i++) {
    adds.push({ a: s(all[i]), b: s(all[(i * 5 + 3) % all.length]), sum: s(add(all[i], all[(i * 5 + 3) % all.length])) });
    adds.push({ a: s(all[i]), b: s(all[i]), sum: s(add(all[i], all[i])) });
  }

  const scalars = [1n, 2n, 3n, 7n, 8n, 1n << 250n, L - 1n, L, L + 1n, (1n << 251n) - 1n];
  for (let i = 0; i < 6; i++) scalars.push(rnd.next().value);
  const base8 = scalars.map((k) => ({ scalar: k.toString(), point: s(mul(bjj.Base8, k)) }));
  const muls = [];
  for (const p of [subgroup[2], subgroup[3], generator, add(subgroup[2], t8), t4]) {
    for (const k of [1n, 5n, L - 1n, rnd.next().value, (1n << 251n) - 1n]) {
      muls.push({ point: s(p), scalar: k.toString(), product: s(mul(p, k)) });
    }
  }

  const packed = [...subgroup, generator, add(subgroup[2], t8)].map((p) => {
    const packedInt = bjj.packPoint(p);
    assert.deepStrictEqual(bjj.unpackPoint(packedInt), p);
    const cjPacked = cj.packPoint(toCj(p));
    assert.strictEqual(BigInt("0x" + Buffer.from(cjPacked).reverse().toString("hex")), packedInt);
    return { point: s(p), packed_le_hex: Buffer.from(cjPacked).toString("hex") };
  });

  const ecdh = [];
  for (let i = 0; i < 6; i++) {
    const priv = rnd.next().value || 1n;
    const other = rnd.next().value || 1n;
    const pub = mul(bjj.Base8, other);
    const shared = mul(pub, priv);
    assert.deepStrictEqual(mul(mul(bjj.Base8, priv), other), shared);
    ecdh.push({ private: priv.toString(), public: s(pub), shared: s(shared) });
  }

  const outDir = path.join(__dirname, "..", "circuits", "tests", "vectors");
  const write = (name, obj) =>
    fs.writeFileSync(path.join(outDir, name), JSON.stringify(obj, null, 1) + "\n");
  write("babyjubjub.json", {
    source: "@zk-kit/baby-jubjub 1.0.3, cross-checked with circomlibjs 0.1.7 babyjub",
    subgroup_order: L.toString(),
    base8: s(bjj.Base8),
    points,
    adds,
    base8_mul: base8,
    mul: muls,
    packed,
    ecdh,
  });

  const R = bjj.r;
  const fields = lcg(20261209, R);
  const nonces = [0n, 1n, (1n << 128n) - 1n];
  const cases = [];
  for (let n = 1; n <= 12; n++) {
    const key = bjj.mulPointEscalar(mul(bjj.Base8, BigInt(1000 + n)), BigInt(77 + n));
    const nonce = nonces[n % 3] || BigInt(n) * 0x1234567890abcdefn;
    const message = Array.from({ length: n }, (_, i) => (i === 0 ? R - 1n : fields.next().value));
    const ciphertext = cipher.poseidonEncrypt(message, key, nonce);
    assert.deepStrictEqual(cipher.poseidonDecrypt(ciphertext, key, nonce, n), message);
    cases.push({
      key: s(key),
      nonce: nonce.toString(),
      message: message.map(String),
      ciphertext: ciphertext.map(String),
    });
  }
  write("poseidon_cipher.json", { source: "@zk-kit/poseidon-cipher 0.3.2", cases });
  console.log(`wrote BabyJubJub and ${cases.length} cipher cases to ${outDir}`);
}

main()
  .then(() => process.exit(0))
  .catch((e) => {
    console.error(e);
    process.exit(1);
  });
