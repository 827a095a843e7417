// Device memory copy: dst = src, 16 bytes per invocation, over a 2-D grid so large buffers stay
// under the 65,535 workgroups-per-dimension limit. Dispatch: (min(groups, 65535), ceil(groups /
// 65535), 1) with groups = ceil(words / 256).

struct Params {
    words: u32,
    row_groups: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<u32>>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * params.row_groups + wg.x) * 256u + li;
    if (i < params.words) {
        dst[i] = src[i];
    }
}
