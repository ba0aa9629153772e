pragma circom 2.0.0;

// Two constraints, one public output and one public input: the smallest
// file set that exercises every section of .r1cs, .wtns and .zkey.
template Tiny() {
    signal input a;
    signal input b;
    signal output c;
    signal t;
    t <== a * b;
    c <== t * a + b;
}

component main {public [b]} = Tiny();
