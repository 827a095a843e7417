// C (m×n) = A (m×k) · B (k×n), row-major f32.
//
// Workgroup tile 128×128 over a 16-deep slice of k, staged through workgroup memory; 16×16
// threads, each accumulating an 8×8 register block (two 4-row groups 64 rows apart × two vec4
// column groups 64 columns apart, so the warp's shared-memory reads are conflict-free
// broadcasts). A is stored transposed as vec4 rows padded to 33 vec4 (conflict-free stores);
// the next slice's global loads are issued before the current slice is multiplied (register
// prefetch). The inner product is written out by hand so that every accumulator is a named
// register. Any m, n, k: loads outside the matrices read zero and stores outside are skipped.
// Dispatch: (ceil(n/128), ceil(m/128), 1).
//
// The f16 variant (f16 inputs, f32 accumulation, needs SHADER_F16) is this file with A and B
// declared `array<f16>` (the lines marked `// A` and `// B`) and `enable f16;` added, made when
// the pipeline is built; the loads convert with f32() either way.

struct Dims {
    m: u32,
    n: u32,
    k: u32,
    pad: u32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>; // A
@group(0) @binding(1) var<storage, read> b: array<f32>; // B
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> dims: Dims;

const BM: u32 = 128u;
const BN: u32 = 128u;
const BK: u32 = 16u;
const THREADS: u32 = 256u;
const AROW: u32 = 33u; // vec4 per row of a_tile: BM / 4 + 1 of padding

var<workgroup> a_tile: array<vec4<f32>, 528>; // [BK][AROW], A transposed
var<workgroup> b_tile: array<vec4<f32>, 512>; // [BK][BN / 4]

// Element (r, col) of A or zero outside it.
fn load_a(r: u32, col: u32) -> f32 {
    if (r < dims.m && col < dims.k) {
        return f32(a[r * dims.k + col]);
    }
    return 0.0;
}

// Four consecutive elements of row r of B from column col, zero outside it.
fn load_b4(r: u32, col: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    if (r < dims.k) {
        let base = r * dims.n;
        if (col < dims.n) { v.x = f32(b[base + col]); }
        if (col + 1u < dims.n) { v.y = f32(b[base + col + 1u]); }
        if (col + 2u < dims.n) { v.z = f32(b[base + col + 2u]); }
        if (col + 3u < dims.n) { v.w = f32(b[base + col + 3u]); }
    }
    return v;
}

// Four consecutive rows of A at one column, as a vec4 (one column of the transposed tile).
fn load_a4(r: u32, col: u32) -> vec4<f32> {
    return vec4<f32>(load_a(r, col), load_a(r + 1u, col), load_a(r + 2u, col), load_a(r + 3u, col));
}

fn store4(r: u32, col: u32, v: vec4<f32>) {
    if (r < dims.m) {
        let base = r * dims.n;
        if (col < dims.n) { c[base + col] = v.x; }
        if (col + 1u < dims.n) { c[base + col + 1u] = v.y; }
        if (col + 2u < dims.n) { c[base + col + 2u] = v.z; }
        if (col + 3u < dims.n) { c[base + col + 3u] = v.w; }
    }
}

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let row0 = wg.y * BM;
    let col0 = wg.x * BN;
    let tx = li % 16u;
    let ty = li / 16u;
    // This thread's two loads of each tile: A as (4-row group, k) pairs, B as (k, vec4 column).
    let ak0 = li % BK;
    let ar0 = li / BK;          // 4-row groups 0..15
    let ar1 = ar0 + 16u;        // 16..31
    let bk0 = li / 32u;         // rows 0..7
    let bk1 = bk0 + 8u;         // 8..15
    let bc = li % 32u;

    var c00 = vec4<f32>(0.0); var c01 = vec4<f32>(0.0);
    var c10 = vec4<f32>(0.0); var c11 = vec4<f32>(0.0);
    var c20 = vec4<f32>(0.0); var c21 = vec4<f32>(0.0);
    var c30 = vec4<f32>(0.0); var c31 = vec4<f32>(0.0);
    var c40 = vec4<f32>(0.0); var c41 = vec4<f32>(0.0);
    var c50 = vec4<f32>(0.0); var c51 = vec4<f32>(0.0);
    var c60 = vec4<f32>(0.0); var c61 = vec4<f32>(0.0);
    var c70 = vec4<f32>(0.0); var c71 = vec4<f32>(0.0);

    var pa0 = load_a4(row0 + ar0 * 4u, ak0);
    var pa1 = load_a4(row0 + ar1 * 4u, ak0);
    var pb0 = load_b4(bk0, col0 + bc * 4u);
    var pb1 = load_b4(bk1, col0 + bc * 4u);
    for (var k0 = 0u; k0 < dims.k; k0 += BK) {
        a_tile[ak0 * AROW + ar0] = pa0;
        a_tile[ak0 * AROW + ar1] = pa1;
        b_tile[bk0 * 32u + bc] = pb0;
        b_tile[bk1 * 32u + bc] = pb1;
        workgroupBarrier();
        let kn = k0 + BK;
        if (kn < dims.k) {
            pa0 = load_a4(row0 + ar0 * 4u, kn + ak0);
            pa1 = load_a4(row0 + ar1 * 4u, kn + ak0);
            pb0 = load_b4(kn + bk0, col0 + bc * 4u);
            pb1 = load_b4(kn + bk1, col0 + bc * 4u);
        }
        for (var kk = 0u; kk < BK; kk++) {
            let a0 = a_tile[kk * AROW + ty];
            let a1 = a_tile[kk * AROW + 16u + ty];
            let b0 = b_tile[kk * 32u + tx];
            let b1 = b_tile[kk * 32u + 16u + tx];
            c00 = fma(vec4<f32>(a0.x), b0, c00);
            c01 = fma(vec4<f32>(a0.x), b1, c01);
            c10 = fma(vec4<f32>(a0.y), b0, c10);
            c11 = fma(vec4<f32>(a0.y), b1, c11);
            c20 = fma(vec4<f32>(a0.z), b0, c20);
            c21 = fma(vec4<f32>(a0.z), b1, c21);
            c30 = fma(vec4<f32>(a0.w), b0, c30);
            c31 = fma(vec4<f32>(a0.w), b1, c31);
            c40 = fma(vec4<f32>(a1.x), b0, c40);
            c41 = fma(vec4<f32>(a1.x), b1, c41);
            c50 = fma(vec4<f32>(a1.y), b0, c50);
            c51 = fma(vec4<f32>(a1.y), b1, c51);
            c60 = fma(vec4<f32>(a1.z), b0, c60);
            c61 = fma(vec4<f32>(a1.z), b1, c61);
            c70 = fma(vec4<f32>(a1.w), b0, c70);
            c71 = fma(vec4<f32>(a1.w), b1, c71);
        }
        workgroupBarrier();
    }
    let r0 = row0 + ty * 4u;
    let r1 = row0 + 64u + ty * 4u;
    let q0 = col0 + tx * 4u;
    let q1 = col0 + 64u + tx * 4u;
    store4(r0, q0, c00); store4(r0, q1, c01);
    store4(r0 + 1u, q0, c10); store4(r0 + 1u, q1, c11);
    store4(r0 + 2u, q0, c20); store4(r0 + 2u, q1, c21);
    store4(r0 + 3u, q0, c30); store4(r0 + 3u, q1, c31);
    store4(r1, q0, c40); store4(r1, q1, c41);
    store4(r1 + 1u, q0, c50); store4(r1 + 1u, q1, c51);
    store4(r1 + 2u, q0, c60); store4(r1 + 2u, q1, c61);
    store4(r1 + 3u, q0, c70); store4(r1 + 3u, q1, c71);
}
