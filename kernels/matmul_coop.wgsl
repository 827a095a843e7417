// C (m×n, f32) = A (m×k, f16) · B (k×n, f16) on matrix units (tensor cores) through cooperative
// matrices: 16×16×16 f16 → f32, needs EXPERIMENTAL_COOPERATIVE_MATRIX and SHADER_F16.
//
// One workgroup is one subgroup (SG invocations; the line `const SG` is rewritten to the
// adapter's subgroup size when the pipeline is built) and computes a 32×32 block of C with 2×2
// accumulator tiles. A 32×16 slice of A and a 16×32 slice of B are staged through workgroup
// memory, zero-filled outside the matrices, so any m, n, k works; the accumulators go back
// through workgroup memory and only elements inside C are stored. Strides and offsets of the
// cooperative loads and stores are literals (naga 30's SPIR-V writer panics on computed ones).
// Dispatch: (ceil(n/32), ceil(m/32), 1).

enable f16;
enable wgpu_cooperative_matrix;

struct Dims {
    m: u32,
    n: u32,
    k: u32,
    pad: u32,
}

@group(0) @binding(0) var<storage, read> a: array<f16>;
@group(0) @binding(1) var<storage, read> b: array<f16>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> dims: Dims;

const SG: u32 = 32u;
const BM: u32 = 32u;
const BN: u32 = 32u;
const BK: u32 = 16u;

var<workgroup> a_tile: array<f16, 512>; // BM × BK, row-major
var<workgroup> b_tile: array<f16, 512>; // BK × BN, row-major
var<workgroup> c_tile: array<f32, 1024>; // BM × BN, row-major

@compute @workgroup_size(SG, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let row0 = wg.y * BM;
    let col0 = wg.x * BN;
    var acc00 = coop_mat16x16<f32, C>();
    var acc01 = coop_mat16x16<f32, C>();
    var acc10 = coop_mat16x16<f32, C>();
    var acc11 = coop_mat16x16<f32, C>();
    for (var k0 = 0u; k0 < dims.k; k0 += BK) {
        for (var idx = li; idx < BM * BK; idx += SG) {
            let ar = idx / BK;
            let ak = idx % BK;
            var av = 0.0h;
            if (row0 + ar < dims.m && k0 + ak < dims.k) {
                av = a[(row0 + ar) * dims.k + k0 + ak];
            }
            a_tile[idx] = av;
            let bk = idx / BN;
            let bc = idx % BN;
            var bv = 0.0h;
            if (k0 + bk < dims.k && col0 + bc < dims.n) {
                bv = b[(k0 + bk) * dims.n + col0 + bc];
            }
            b_tile[idx] = bv;
        }
        workgroupBarrier();
        let a0 = coopLoadT<coop_mat16x16<f16, A>>(&a_tile[0], 16u);
        let a1 = coopLoadT<coop_mat16x16<f16, A>>(&a_tile[256], 16u);
        let b0 = coopLoadT<coop_mat16x16<f16, B>>(&b_tile[0], 32u);
        let b1 = coopLoadT<coop_mat16x16<f16, B>>(&b_tile[16], 32u);
        acc00 = coopMultiplyAdd(a0, b0, acc00);
        acc01 = coopMultiplyAdd(a0, b1, acc01);
        acc10 = coopMultiplyAdd(a1, b0, acc10);
        acc11 = coopMultiplyAdd(a1, b1, acc11);
        workgroupBarrier();
    }
    coopStoreT(acc00, &c_tile[0], 32u);
    coopStoreT(acc01, &c_tile[16], 32u);
    coopStoreT(acc10, &c_tile[512], 32u);
    coopStoreT(acc11, &c_tile[528], 32u);
    workgroupBarrier();
    for (var idx = li; idx < BM * BN; idx += SG) {
        let r = row0 + idx / BN;
        let col = col0 + idx % BN;
        if (r < dims.m && col < dims.n) {
            c[r * dims.n + col] = c_tile[idx];
        }
    }
}
