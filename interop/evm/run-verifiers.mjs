// Compiles Solidity Groth16 verifiers with the pinned solc, deploys each on
// @ethereumjs/vm (Prague) and calls verifyProof with the given arguments.
//
// Input (JSON file named by argv[2]):
//   { "verifiers": [ { "name": "range",
//                      "source": "<Verifier.sol text>",
//                      "snarkjs_vk": "<verification_key.json text>" (optional),
//                      "proof": {proof.json}, "public": [public.json] (optional),
//                      "calls": [ { "label": "valid", "args": "<calldata>" } ] } ] }
// where <calldata> is what `zkr export calldata` prints.
// Output (stdout, JSON):
//   { "solc": "...", "verifiers": [ { "name", "deploy_gas",
//       "calls": [ { "label", "result": true|false|"revert: ...", "gas" } ],
//       "snarkjs": { "calls": [...] } (when snarkjs_vk was given and
//                                      snarkjs is installed in interop/),
//       "snarkjs_calldata": "..." (snarkjs's soliditycalldata for proof and
//                                  public, when given and installed) } ] }
// "gas" is execution gas: what the call costs as a transaction, without the
// 21,000 base and the calldata costs.
import { readFileSync, existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Common, Hardfork, Mainnet } from '@ethereumjs/common'
import { createVM } from '@ethereumjs/vm'
import { bytesToHex, hexToBytes } from '@ethereumjs/util'

const require = createRequire(import.meta.url)
const solc = require('solc')
const here = dirname(fileURLToPath(import.meta.url))

const input = JSON.parse(readFileSync(process.argv[2], 'utf8'))

// snarkjs's own verifier for the same key, when snarkjs is installed beside
// us (interop/node_modules), rendered from its template as snarkjs does.
const base = join(here, '..', 'node_modules')
function snarkjsSource(vkText) {
  const template = join(base, 'snarkjs', 'templates', 'verifier_groth16.sol.ejs')
  if (!existsSync(template)) return null
  const ejs = require(join(base, 'ejs'))
  return ejs.render(readFileSync(template, 'utf8'), JSON.parse(vkText))
}

const sources = {}
for (const v of input.verifiers) {
  sources[`${v.name}.sol`] = { content: v.source }
  if (v.snarkjs_vk) {
    const s = snarkjsSource(v.snarkjs_vk)
    if (s) sources[`${v.name}.snarkjs.sol`] = { content: s }
  }
}
const compiled = JSON.parse(
  solc.compile(
    JSON.stringify({
      language: 'Solidity',
      sources,
      settings: {
        optimizer: { enabled: true, runs: 200 },
        evmVersion: 'prague',
        outputSelection: { '*': { '*': ['evm.bytecode.object', 'evm.methodIdentifiers'] } },
      },
    }),
  ),
)
const errors = (compiled.errors ?? []).filter((e) => e.severity === 'error')
if (errors.length > 0) {
  console.error(errors.map((e) => e.formattedMessage).join('\n'))
  process.exit(2)
}

const common = new Common({ chain: Mainnet, hardfork: Hardfork.Prague })

function contractOf(file) {
  const c = Object.values(compiled.contracts[file])[0]
  const selector = Object.entries(c.evm.methodIdentifiers).find(([sig]) =>
    sig.startsWith('verifyProof('),
  )
  if (!selector) throw new Error(`${file}: no verifyProof`)
  return { bytecode: c.evm.bytecode.object, selector: selector[1] }
}

// The call data: selector, then every word of the (static) arguments.
function encode(selector, args) {
  const words = JSON.parse(`[${args}]`).flat(2)
  return hexToBytes(
    `0x${selector}${words.map((w) => BigInt(w).toString(16).padStart(64, '0')).join('')}`,
  )
}

async function run(file, calls) {
  const { bytecode, selector } = contractOf(file)
  const vm = await createVM({ common })
  const deployed = await vm.evm.runCall({ data: hexToBytes(`0x${bytecode}`), gasLimit: 30_000_000n })
  if (deployed.execResult.exceptionError || !deployed.createdAddress) {
    throw new Error(`${file}: deployment failed: ${deployed.execResult.exceptionError?.error}`)
  }
  const out = []
  for (const call of calls) {
    // As a transaction starts (EIP-2929): a fresh access list with the
    // precompiles and the called contract warm, so that every call pays
    // what it would pay as the transaction's only call.
    await vm.evm.journal.cleanup()
    for (const [address] of vm.evm.precompiles.entries()) vm.evm.journal.addAlwaysWarmAddress(address)
    vm.evm.journal.addAlwaysWarmAddress(deployed.createdAddress.toString())
    const r = await vm.evm.runCall({
      to: deployed.createdAddress,
      data: encode(selector, call.args),
      gasLimit: 30_000_000n,
    })
    const ret = bytesToHex(r.execResult.returnValue)
    let result
    if (r.execResult.exceptionError) result = `revert: ${r.execResult.exceptionError.error}`
    else if (BigInt(ret) === 1n && r.execResult.returnValue.length === 32) result = true
    else if (BigInt(ret === '0x' ? 0 : ret) === 0n) result = false
    else result = `unexpected return ${ret}`
    out.push({ label: call.label, result, gas: Number(r.execResult.executionGasUsed) })
  }
  return { deploy_gas: Number(deployed.execResult.executionGasUsed), calls: out }
}

const report = { solc: solc.version(), verifiers: [] }
for (const v of input.verifiers) {
  const ours = await run(`${v.name}.sol`, v.calls)
  const entry = { name: v.name, ...ours }
  if (sources[`${v.name}.snarkjs.sol`]) entry.snarkjs = await run(`${v.name}.snarkjs.sol`, v.calls)
  if (v.proof && v.public && existsSync(join(base, 'snarkjs'))) {
    const snarkjs = require(join(base, 'snarkjs'))
    entry.snarkjs_calldata = await snarkjs.groth16.exportSolidityCallData(v.proof, v.public)
  }
  report.verifiers.push(entry)
}
console.log(JSON.stringify(report))
process.exit(0)
