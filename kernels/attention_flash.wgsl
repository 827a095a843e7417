// Scaled dot-product attention forward, flash-style (FlashAttention-2's online softmax), f32.
//
// Q, K, V, O are [b·h][s][D] row-major, read as vec4. One workgroup takes 64 query rows of one
// (batch, head) with T threads per row (T = 1, 2 or 4; the line `const T` is rewritten): each
// thread keeps its 1/T of the row's query and output accumulator in registers, and the partial
// dot products of a row's T threads are summed with subgroup shuffles (T > 1 needs SUBGROUP
// and subgroups of at least T lanes). Tiles of 32 keys and values are staged through workgroup
// memory; each tile updates the running row maximum m and sum l, rescaling the accumulator by
// exp(m_old − m_new). With the causal mask, tiles past the block's last query are skipped and
// masked scores get zero weight. Any s works: rows and keys beyond s are masked. D is set when
// the pipeline is built (the line `const D` is rewritten): a multiple of 4T, at most 64T.
// The f16 variant (f16 Q, K, V; softmax and accumulation in f32; f32 O) declares the lines
// marked `// IN` as `array<vec4<f16>>` and adds `enable f16;`; loads convert with vec4<f32>()
// either way. Dispatch: (ceil(s / 64), b·h, 1).

struct Params {
    s: u32,
    causal: u32,
    scale: f32,
    pad: u32,
}

@group(0) @binding(0) var<storage, read> q: array<vec4<f32>>; // IN
@group(0) @binding(1) var<storage, read> k: array<vec4<f32>>; // IN
@group(0) @binding(2) var<storage, read> v: array<vec4<f32>>; // IN
@group(0) @binding(3) var<storage, read_write> o: array<vec4<f32>>;
@group(0) @binding(4) var<uniform> params: Params;

const D: u32 = 64u;
const T: u32 = 1u;
const DV: u32 = D / 4u;      // vec4 per row
const DVT: u32 = DV / T;     // vec4 per thread
const BR: u32 = 64u;
const BC: u32 = 32u;
const WG: u32 = BR * T;

var<workgroup> k_tile: array<vec4<f32>, BC * DV>;
var<workgroup> v_tile: array<vec4<f32>, BC * DV>;

// The sum of x over the T threads of a row (consecutive lanes).
fn row_sum(x: f32) -> f32 {
    var y = x;
    for (var off = 1u; off < T; off <<= 1u) {
        y += subgroupShuffleXor(y, off); // SHUFFLE
    }
    return y;
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let s = params.s;
    let causal = params.causal != 0u;
    let base = wg.y * s * DV;
    let q0 = wg.x * BR;
    let row = q0 + li / T;
    let part = (li % T) * DVT; // this thread's first vec4 of the row
    let live = row < s;

    var qr: array<vec4<f32>, DVT>;
    var acc: array<vec4<f32>, DVT>;
    for (var i = 0u; i < DVT; i++) {
        acc[i] = vec4<f32>(0.0);
        qr[i] = vec4<f32>(0.0);
        if (live) {
            qr[i] = vec4<f32>(q[base + row * DV + part + i]) * params.scale;
        }
    }
    var m = -3.0e38;
    var l = 0.0;
    var key_end = s;
    if (causal) {
        key_end = min(s, q0 + BR);
    }
    for (var k0 = 0u; k0 < key_end; k0 += BC) {
        for (var idx = li; idx < BC * DV; idx += WG) {
            let key = k0 + idx / DV;
            var kv = vec4<f32>(0.0);
            var vv = vec4<f32>(0.0);
            if (key < s) {
                kv = vec4<f32>(k[base + key * DV + idx % DV]);
                vv = vec4<f32>(v[base + key * DV + idx % DV]);
            }
            k_tile[idx] = kv;
            v_tile[idx] = vv;
        }
        workgroupBarrier();
        // Keys k0 + j with j < valid count for this row.
        var valid = min(BC, s - k0);
        if (causal) {
            valid = min(valid, select(0u, row + 1u - k0, row + 1u > k0));
        }
        var scores: array<f32, BC>;
        var m_new = m;
        for (var j = 0u; j < BC; j++) {
            var dot4 = vec4<f32>(0.0);
            for (var i = 0u; i < DVT; i++) {
                dot4 = fma(qr[i], k_tile[j * DV + part + i], dot4);
            }
            let sc = row_sum(dot4.x + dot4.y + dot4.z + dot4.w);
            scores[j] = sc;
            if (j < valid) {
                m_new = max(m_new, sc);
            }
        }
        let correction = exp(m - m_new);
        l = l * correction;
        for (var i = 0u; i < DVT; i++) {
            acc[i] = acc[i] * correction;
        }
        for (var j = 0u; j < BC; j++) {
            let p = select(0.0, exp(scores[j] - m_new), j < valid);
            l = l + p;
            for (var i = 0u; i < DVT; i++) {
                acc[i] = fma(vec4<f32>(p), v_tile[j * DV + part + i], acc[i]);
            }
        }
        m = m_new;
        workgroupBarrier();
    }
    if (live) {
        for (var i = 0u; i < DVT; i++) {
            o[base + row * DV + part + i] = acc[i] / l;
        }
    }
}
