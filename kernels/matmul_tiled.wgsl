// C (m×n) = A (m×k) · B (k×n), row-major f32.
//
// Workgroup tile 64×64 over a 16-deep slice of k, staged through workgroup memory (A stored
// transposed so each thread reads its 4 rows contiguously); 16×16 threads, each accumulating a
// 4×4 register block with fma. Any m, n, k: loads outside the matrices read zero and stores
// outside are skipped. Dispatch: (ceil(n/64), ceil(m/64), 1).
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

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;
const THREADS: u32 = 256u;

var<workgroup> a_tile: array<f32, 1024>; // [BK][BM]
var<workgroup> b_tile: array<f32, 1024>; // [BK][BN]

@compute @workgroup_size(16, 16, 1)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let row0 = wg.y * BM;
    let col0 = wg.x * BN;
    var acc: array<array<f32, 4>, 4>;
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            acc[i][j] = 0.0;
        }
    }
    for (var k0 = 0u; k0 < dims.k; k0 += BK) {
        for (var s = 0u; s < 4u; s++) {
            let idx = li + s * THREADS;
            // A tile: 64 rows × 16 columns, stored transposed.
            let ar = idx / BK;
            let ak = idx % BK;
            var av = 0.0;
            if (row0 + ar < dims.m && k0 + ak < dims.k) {
                av = f32(a[(row0 + ar) * dims.k + k0 + ak]);
            }
            a_tile[ak * BM + ar] = av;
            // B tile: 16 rows × 64 columns.
            let bk = idx / BN;
            let bc = idx % BN;
            var bv = 0.0;
            if (k0 + bk < dims.k && col0 + bc < dims.n) {
                bv = f32(b[(k0 + bk) * dims.n + col0 + bc]);
            }
            b_tile[bk * BN + bc] = bv;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            var ar: array<f32, 4>;
            var br: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) {
                ar[i] = a_tile[kk * BM + lid.y * 4u + i];
                br[i] = b_tile[kk * BN + lid.x * 4u + i];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc[i][j] = fma(ar[i], br[j], acc[i][j]);
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        let r = row0 + lid.y * 4u + i;
        for (var j = 0u; j < 4u; j++) {
            let col = col0 + lid.x * 4u + j;
            if (r < dims.m && col < dims.n) {
                c[r * dims.n + col] = acc[i][j];
            }
        }
    }
}
