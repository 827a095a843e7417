// The device's FMA ceiling, measured (vkpeak-style): each invocation runs 8 independent vec4
// chains x ← fma(x, ½, c/2), which converge to the fixed point c = 1.5; the result is written
// so the work cannot be optimised away, and checked on the host. Work: invocations × trips ×
// 8 chains × 4 lanes × 2 flops. Dispatch: (groups, 1, 1) with 256 invocations each.

struct Params {
    trips: u32,
    pad0: u32,
    half: f32,
    half_c: f32,
}

@group(0) @binding(0) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(1) var<uniform> params: Params;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let a = vec4<f32>(params.half);
    let b = vec4<f32>(params.half_c);
    let seed = f32(gid.x % 7u);
    var x0 = vec4<f32>(seed + 2.0);
    var x1 = vec4<f32>(seed + 3.0);
    var x2 = vec4<f32>(seed + 4.0);
    var x3 = vec4<f32>(seed + 5.0);
    var x4 = vec4<f32>(seed + 6.0);
    var x5 = vec4<f32>(seed + 7.0);
    var x6 = vec4<f32>(seed + 8.0);
    var x7 = vec4<f32>(seed + 9.0);
    for (var t = 0u; t < params.trips; t++) {
        x0 = fma(x0, a, b);
        x1 = fma(x1, a, b);
        x2 = fma(x2, a, b);
        x3 = fma(x3, a, b);
        x4 = fma(x4, a, b);
        x5 = fma(x5, a, b);
        x6 = fma(x6, a, b);
        x7 = fma(x7, a, b);
    }
    out[gid.x] = (x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7) * 0.125;
}
