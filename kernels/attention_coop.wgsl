// Scaled dot-product attention forward on matrix units (tensor cores) through cooperative
// matrices: f16 Q, K, V; S = Q·Kᵀ and O = P·V as 16×16×16 f16 → f32 products; softmax in f32;
// f32 O. Needs EXPERIMENTAL_COOPERATIVE_MATRIX, SHADER_F16 and 32-wide subgroups.
//
// Q, K, V, O are [b·h][s][D] row-major. One workgroup of BR/16 subgroups takes BR query rows of one
// (batch, head), 16 rows per subgroup; its Q fragments and its O accumulators (D/16 of each)
// stay in registers. Keys and values come in tiles of BC, staged through workgroup memory as f16
// (rows padded by 8 halves against bank conflicts), zero outside s.
//
// WGSL cannot scale the rows of a cooperative matrix, so the online softmax's rescaling of O is
// replaced by two passes over the keys: the first computes S and keeps each row's maximum m, the
// second computes S again, P = exp(S − m) (exact, never rescaled) and O += P·V. This costs one
// extra Q·Kᵀ (1.5× the matrix work of one pass) and no element-wise traffic on O. S goes through
// a per-subgroup staging tile in workgroup memory, where two lanes own each row (BC/2 keys
// each); P is written back as f16 for the P·V product. With the causal mask, tiles past the
// block's last query are skipped and masked keys get P = 0. Any s works. The host reads BR from
// this file, dispatches ceil(s / BR) workgroups per head and pads Q by BR rows so the last
// block's fragment loads stay inside the buffer.
//
// D is set when the pipeline is built (the line `const D` is rewritten): a multiple of 16, up to
// 128. Dispatch: (ceil(s / BR), b·h, 1).

enable f16;
enable wgpu_cooperative_matrix;

struct Params {
    s: u32,
    causal: u32,
    scale: f32,
    pad: u32,
}

@group(0) @binding(0) var<storage, read> q: array<f16>;
@group(0) @binding(1) var<storage, read> k: array<vec4<f16>>;
@group(0) @binding(2) var<storage, read> v: array<vec4<f16>>;
@group(0) @binding(3) var<storage, read_write> o: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

const D: u32 = 64u;
const DN: u32 = D / 16u;     // fragments across the head dimension
const BR: u32 = 64u;         // query rows per workgroup, 16 per subgroup
const BC: u32 = 32u;         // keys per tile
const KN: u32 = BC / 16u;    // fragments across a tile's keys
const HALF: u32 = BC / 2u;   // keys per lane in the element-wise steps
const KSTR: u32 = D + 8u;    // halves per row of k_tile and v_tile
const SSTR: u32 = BC;        // floats per row of a subgroup's S staging tile (16 × BC)
const PSTR: u32 = BC + 8u;   // halves per row of a subgroup's P tile (16 × BC, padded)
const THREADS: u32 = BR * 2u; // one subgroup of 32 per 16 rows

var<workgroup> k_tile: array<f16, BC * KSTR>;
var<workgroup> v_tile: array<f16, BC * KSTR>;
var<workgroup> s_stage: array<f32, BR * SSTR>;   // per subgroup 16 × SSTR
var<workgroup> p_tile: array<f16, BR * PSTR>;    // per subgroup 16 × PSTR
var<workgroup> red: array<f32, THREADS>;         // one value per lane, to combine a row's two lanes

// Stages keys (and values when `with_v`) k0..k0+BC of head `hbase` (in vec4 units), zero past s.
fn stage(hbase: u32, k0: u32, li: u32, with_v: bool) {
    let per_row = D / 4u;
    for (var idx = li; idx < BC * per_row; idx += THREADS) {
        let key = k0 + idx / per_row;
        let col = (idx % per_row) * 4u;
        var kv = vec4<f16>(0.0h);
        var vv = vec4<f16>(0.0h);
        if (key < params.s) {
            kv = k[hbase + key * per_row + col / 4u];
            if (with_v) {
                vv = v[hbase + key * per_row + col / 4u];
            }
        }
        let t = (idx / per_row) * KSTR + col;
        k_tile[t] = kv.x;
        k_tile[t + 1u] = kv.y;
        k_tile[t + 2u] = kv.z;
        k_tile[t + 3u] = kv.w;
        if (with_v) {
            v_tile[t] = vv.x;
            v_tile[t + 1u] = vv.y;
            v_tile[t + 2u] = vv.z;
            v_tile[t + 3u] = vv.w;
        }
    }
}

@compute @workgroup_size(THREADS, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let s = params.s;
    let causal = params.causal != 0u;
    let sg = li / 32u;
    let lane = li % 32u;
    let q0 = wg.x * BR;
    let hrow = wg.y * s;                 // first row of this head
    let hbase = hrow * (D / 4u);         // the same in vec4 units
    let sub0 = q0 + sg * 16u;            // this subgroup's first query row
    // This lane's row of the subgroup's 16 and its half of the tile's keys. Lanes visit their
    // keys in a rotated order, j + r, so that the 32 lanes' reads of the staging tile fall in
    // 32 different banks.
    let r = lane % 16u;
    let c0 = (lane / 16u) * HALF;
    let qrow = sub0 + r;
    let soff = sg * 16u * SSTR;
    let poff = sg * 16u * PSTR;
    let scale2 = params.scale * 1.4426950408889634; // exp(x·scale) = exp2(x·scale2)

    var qf: array<coop_mat16x16<f16, A>, DN>;
    var oacc: array<coop_mat16x16<f32, C>, DN>;
    for (var i = 0u; i < DN; i++) {
        let qo = (hrow + sub0) * D + i * 16u;
        qf[i] = coopLoadT<coop_mat16x16<f16, A>>(&q[qo], D);
        oacc[i] = coop_mat16x16<f32, C>();
    }
    var key_end = s;
    if (causal) {
        key_end = min(s, q0 + BR);
    }

    // Pass 1: each row's maximum score.
    var m = -3.0e38;
    for (var k0 = 0u; k0 < key_end; k0 += BC) {
        stage(hbase, k0, li, false);
        workgroupBarrier();
        for (var kb = 0u; kb < KN; kb++) {
            var sacc = coop_mat16x16<f32, C>();
            for (var i = 0u; i < DN; i++) {
                let kt = coopLoad<coop_mat16x16<f16, B>>(&k_tile[kb * 16u * KSTR + i * 16u], KSTR);
                sacc = coopMultiplyAdd(qf[i], kt, sacc);
            }
            let st = soff + kb * 16u;
            coopStoreT(sacc, &s_stage[st], SSTR);
        }
        workgroupBarrier();
        for (var j = 0u; j < HALF; j++) {
            let jj = c0 + (j + r) % HALF;
            let key = k0 + jj;
            if (key < s && (!causal || key <= qrow)) {
                m = max(m, s_stage[soff + r * SSTR + jj]);
            }
        }
        workgroupBarrier();
    }
    red[li] = m;
    workgroupBarrier();
    m = max(m, red[li ^ 16u]);
    workgroupBarrier();

    // Pass 2: P = exp(S − m), l = Σ P, O += P·V.
    var l = 0.0;
    for (var k0 = 0u; k0 < key_end; k0 += BC) {
        stage(hbase, k0, li, true);
        workgroupBarrier();
        for (var kb = 0u; kb < KN; kb++) {
            var sacc = coop_mat16x16<f32, C>();
            for (var i = 0u; i < DN; i++) {
                let kt = coopLoad<coop_mat16x16<f16, B>>(&k_tile[kb * 16u * KSTR + i * 16u], KSTR);
                sacc = coopMultiplyAdd(qf[i], kt, sacc);
            }
            let st = soff + kb * 16u;
            coopStoreT(sacc, &s_stage[st], SSTR);
        }
        workgroupBarrier();
        for (var j = 0u; j < HALF; j++) {
            let jj = c0 + (j + r) % HALF;
            let key = k0 + jj;
            var p = 0.0;
            if (key < s && (!causal || key <= qrow)) {
                p = exp2((s_stage[soff + r * SSTR + jj] - m) * scale2);
            }
            l += p;
            p_tile[poff + r * PSTR + jj] = f16(p);
        }
        workgroupBarrier();
        for (var kb = 0u; kb < KN; kb++) {
            let pa = coopLoadT<coop_mat16x16<f16, A>>(&p_tile[poff + kb * 16u], PSTR);
            for (var i = 0u; i < DN; i++) {
                let vb = coopLoadT<coop_mat16x16<f16, B>>(&v_tile[kb * 16u * KSTR + i * 16u], KSTR);
                oacc[i] = coopMultiplyAdd(pa, vb, oacc[i]);
            }
        }
        workgroupBarrier();
    }
    red[li] = l;
    workgroupBarrier();
    l = l + red[li ^ 16u];

    // O / l, 16 columns at a time through the staging tile; rows past s are not written.
    for (var i = 0u; i < DN; i++) {
        let st = soff;
        coopStoreT(oacc[i], &s_stage[st], SSTR);
        workgroupBarrier();
        if (lane < 16u && sub0 + lane < s) {
            let dst = (hrow + sub0 + lane) * D + i * 16u;
            let sum = red[sg * 32u + lane] + red[sg * 32u + lane + 16u];
            for (var j = 0u; j < 16u; j++) {
                o[dst + j] = s_stage[soff + lane * SSTR + j] / sum;
            }
        }
        workgroupBarrier();
    }
}
