pragma circom 2.0.0;

include "../node_modules/circomlib/circuits/poseidon.circom";

// out = H(...H(H(seed, k), k)..., k), n times: a circuit whose size grows
// by one Poseidon(2) (240 constraints) per step.
template PoseidonChain(n) {
    signal input seed;
    signal input k;
    signal output out;
    component h[n];
    signal acc[n + 1];
    acc[0] <== seed;
    for (var i = 0; i < n; i++) {
        h[i] = Poseidon(2);
        h[i].inputs[0] <== acc[i];
        h[i].inputs[1] <== k;
        acc[i + 1] <== h[i].out;
    }
    out <== acc[n];
}
