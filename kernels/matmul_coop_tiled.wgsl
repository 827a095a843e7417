// C (m×n, f32) = A (m×k, f16) · B (k×n, f16) on matrix units (tensor cores) through cooperative
// matrices, 16×16×16 f16 → f32, for devices with 32-wide subgroups (NVIDIA); needs
// EXPERIMENTAL_COOPERATIVE_MATRIX, SHADER_F16, and k and n multiples of 4 (else the host picks
// matmul_coop.wgsl, which takes any size).
//
// Workgroup tile 128×128 over 16-deep slices of k: 8 subgroups of 32 in a 2×4 grid, each
// owning a 64×32 block of C as 4×2 accumulator tiles, so each fragment of A is used
// 2 times and each of B 4 times. A and B slices are staged through workgroup memory with rows
// padded by 8 halves (16 bytes) against bank conflicts, loaded from global memory as vec4<f16>
// and prefetched into registers one slice ahead. Tiles wholly inside C are stored straight to
// global memory; edge tiles go through a 16×16 staging tile per subgroup and only elements
// inside C are written. Loads outside A or B read zero, so any m works.
// Dispatch: (ceil(n/128), ceil(m/128), 1).

enable f16;
enable wgpu_cooperative_matrix;

struct Dims {
    m: u32,
    n: u32,
    k: u32,
    pad: u32,
}

@group(0) @binding(0) var<storage, read> a: array<vec4<f16>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f16>>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> dims: Dims;

const BM: u32 = 128u;
const BN: u32 = 128u;
const BK: u32 = 16u;
const ASTR: u32 = 24u;  // halves per row of a_tile: BK + 8
const BSTR: u32 = 136u; // halves per row of b_tile: BN + 8

var<workgroup> a_tile: array<f16, 3072>; // [BM][ASTR]
var<workgroup> b_tile: array<f16, 2176>; // [BK][BSTR]
var<workgroup> c_stage: array<f32, 2048>; // 8 subgroups × 16×16

// Four consecutive elements of row r of A from column col (a multiple of 4), zero outside A.
fn load_a4(r: u32, col: u32) -> vec4<f16> {
    if (r < dims.m && col < dims.k) {
        return a[(r * dims.k + col) / 4u];
    }
    return vec4<f16>(0.0h);
}

// Four consecutive elements of row r of B from column col (a multiple of 4), zero outside B.
fn load_b4(r: u32, col: u32) -> vec4<f16> {
    if (r < dims.k && col < dims.n) {
        return b[(r * dims.n + col) / 4u];
    }
    return vec4<f16>(0.0h);
}

fn put_a(i: u32, v: vec4<f16>) {
    a_tile[i] = v.x;
    a_tile[i + 1u] = v.y;
    a_tile[i + 2u] = v.z;
    a_tile[i + 3u] = v.w;
}

fn put_b(i: u32, v: vec4<f16>) {
    b_tile[i] = v.x;
    b_tile[i + 1u] = v.y;
    b_tile[i + 2u] = v.z;
    b_tile[i + 3u] = v.w;
}

// An accumulator tile at (r0, c0) of C through this subgroup's staging tile, inside C only.
fn spill(t: coop_mat16x16<f32, C>, r0: u32, c0: u32, sg: u32, lane: u32) {
    let off = sg * 256u;
    coopStoreT(t, &c_stage[off], 16u);
    workgroupBarrier();
    for (var e = lane; e < 256u; e += 32u) {
        let r = r0 + e / 16u;
        let col = c0 + e % 16u;
        if (r < dims.m && col < dims.n) {
            c[r * dims.n + col] = c_stage[off + e];
        }
    }
    workgroupBarrier();
}

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let row0 = wg.y * BM;
    let col0 = wg.x * BN;
    let sg = li / 32u;
    let lane = li % 32u;
    // This subgroup's 64×32 block of the tile.
    let arow = (sg / 4u) * 64u * ASTR;
    let bcol = (sg % 4u) * 32u;
    // Global loads: the A slice is 128×16 (4 vec4 per row), the B slice 16×128
    // (32 vec4 per row); each thread takes 2 of A and 2 of B.
    let ar = li / 4u;
    let ac = (li % 4u) * 4u;
    let br = li / 32u;
    let bc = (li % 32u) * 4u;

    var acc00 = coop_mat16x16<f32, C>();
    var acc01 = coop_mat16x16<f32, C>();
    var acc10 = coop_mat16x16<f32, C>();
    var acc11 = coop_mat16x16<f32, C>();
    var acc20 = coop_mat16x16<f32, C>();
    var acc21 = coop_mat16x16<f32, C>();
    var acc30 = coop_mat16x16<f32, C>();
    var acc31 = coop_mat16x16<f32, C>();

    var pa0 = load_a4(row0 + ar + 0u, ac);
    var pa1 = load_a4(row0 + ar + 64u, ac);
    var pb0 = load_b4(br + 0u, col0 + bc);
    var pb1 = load_b4(br + 8u, col0 + bc);
    for (var k0 = 0u; k0 < dims.k; k0 += BK) {
        put_a((ar + 0u) * ASTR + ac, pa0);
        put_a((ar + 64u) * ASTR + ac, pa1);
        put_b((br + 0u) * BSTR + bc, pb0);
        put_b((br + 8u) * BSTR + bc, pb1);
        workgroupBarrier();
        let kn = k0 + BK;
        if (kn < dims.k) {
            pa0 = load_a4(row0 + ar + 0u, kn + ac);
            pa1 = load_a4(row0 + ar + 64u, kn + ac);
            pb0 = load_b4(kn + br + 0u, col0 + bc);
            pb1 = load_b4(kn + br + 8u, col0 + bc);
        }
        {
            let fa0 = coopLoadT<coop_mat16x16<f16, A>>(&a_tile[arow + 0u * ASTR + 0u], ASTR);
            let fa1 = coopLoadT<coop_mat16x16<f16, A>>(&a_tile[arow + 16u * ASTR + 0u], ASTR);
            let fa2 = coopLoadT<coop_mat16x16<f16, A>>(&a_tile[arow + 32u * ASTR + 0u], ASTR);
            let fa3 = coopLoadT<coop_mat16x16<f16, A>>(&a_tile[arow + 48u * ASTR + 0u], ASTR);
            let fb0 = coopLoadT<coop_mat16x16<f16, B>>(&b_tile[0u * BSTR + bcol + 0u], BSTR);
            let fb1 = coopLoadT<coop_mat16x16<f16, B>>(&b_tile[0u * BSTR + bcol + 16u], BSTR);
            acc00 = coopMultiplyAdd(fa0, fb0, acc00);
            acc01 = coopMultiplyAdd(fa0, fb1, acc01);
            acc10 = coopMultiplyAdd(fa1, fb0, acc10);
            acc11 = coopMultiplyAdd(fa1, fb1, acc11);
            acc20 = coopMultiplyAdd(fa2, fb0, acc20);
            acc21 = coopMultiplyAdd(fa2, fb1, acc21);
            acc30 = coopMultiplyAdd(fa3, fb0, acc30);
            acc31 = coopMultiplyAdd(fa3, fb1, acc31);
        }
        workgroupBarrier();
    }
    let crow = row0 + (sg / 4u) * 64u;
    let ccol = col0 + (sg % 4u) * 32u;
    if (row0 + BM <= dims.m && col0 + BN <= dims.n) {
        let n = dims.n;
        let o00 = (crow + 0u) * n + ccol + 0u;
        coopStoreT(acc00, &c[o00], n);
        let o01 = (crow + 0u) * n + ccol + 16u;
        coopStoreT(acc01, &c[o01], n);
        let o10 = (crow + 16u) * n + ccol + 0u;
        coopStoreT(acc10, &c[o10], n);
        let o11 = (crow + 16u) * n + ccol + 16u;
        coopStoreT(acc11, &c[o11], n);
        let o20 = (crow + 32u) * n + ccol + 0u;
        coopStoreT(acc20, &c[o20], n);
        let o21 = (crow + 32u) * n + ccol + 16u;
        coopStoreT(acc21, &c[o21], n);
        let o30 = (crow + 48u) * n + ccol + 0u;
        coopStoreT(acc30, &c[o30], n);
        let o31 = (crow + 48u) * n + ccol + 16u;
        coopStoreT(acc31, &c[o31], n);
    } else {
        spill(acc00, crow + 0u, ccol + 0u, sg, lane);
        spill(acc01, crow + 0u, ccol + 16u, sg, lane);
        spill(acc10, crow + 16u, ccol + 0u, sg, lane);
        spill(acc11, crow + 16u, ccol + 16u, sg, lane);
        spill(acc20, crow + 32u, ccol + 0u, sg, lane);
        spill(acc21, crow + 32u, ccol + 16u, sg, lane);
        spill(acc30, crow + 48u, ccol + 0u, sg, lane);
        spill(acc31, crow + 48u, ccol + 16u, sg, lane);
    }
}
