//! Test-only: runs the cooperative-matrix kernels on adapters without matrix units (lavapipe) by
//! rewriting their WGSL so that whole 16×16 matrices live in private arrays.
//!
//! A cooperative matrix is an opaque value shared by a subgroup; its loads, stores and
//! multiply-adds take subgroup-uniform arguments. Here the first invocation of each group of 32
//! (the kernels' subgroups) holds the full matrix (`array<T, 256>`, row-major), does the loads,
//! products and stores; the other 31 would repeat them exactly, so they skip them. The kernel's
//! own indexing, staging, barriers, masking and edge handling run unchanged, so their bugs show
//! on lavapipe. What this cannot show: the driver's own cooperative-matrix code, and speed.
//!
//! Rewrites: `coop_mat16x16<T, R>` → `array<T, 256>`; `coopLoad[T]<…>(&buf[e], s)` →
//! `emu_load[t]_buf(e, s)`; `coopStore[T](m, &buf[e], s)` → `emu_store[t]_buf(m, e, s)`;
//! `coopMultiplyAdd(a, b, c)` → `emu_mma(a, b, c)` (f16 × f16 + f32, the only shape we use).
//! `coopLoad`/`coopStore` are column-major, the `T` forms row-major (wgpu-notes, section 2).

use std::collections::BTreeSet;

/// The kernel `src` with its cooperative-matrix operations replaced by plain WGSL, or what could
/// not be rewritten.
pub fn lower(src: &str) -> Result<String, String> {
    let mut helpers = BTreeSet::new();
    let body = calls(src, &mut helpers)?;
    let body = types(&body)?.replace("enable wgpu_cooperative_matrix;\n", "");
    let mut out = lead(&body)?;
    if out.contains("emu_mma(") {
        out.push('\n');
        out.push_str(MMA);
    }
    for (op, buf) in &helpers {
        out.push('\n');
        out.push_str(&helper(src, op, buf)?);
    }
    Ok(out)
}

/// Declares `emu_lead` and sets it at the top of `main`: true for the first invocation of each
/// group of 32, the one that does the matrix work (the others would repeat it exactly).
fn lead(src: &str) -> Result<String, String> {
    const BUILTIN: &str = "@builtin(local_invocation_index)";
    let missing = || "main needs @builtin(local_invocation_index) to emulate subgroups".to_string();
    let at = src.find(BUILTIN).ok_or_else(missing)? + BUILTIN.len();
    let li = src[at..].split(':').next().ok_or_else(missing)?.trim();
    let main = src.find("fn main(").ok_or_else(missing)?;
    let open = main + src[main..].find('{').ok_or_else(missing)? + 1;
    Ok(format!(
        "{}\n    emu_lead = {li} % 32u == 0u;{}\nvar<private> emu_lead: bool;\n",
        &src[..open],
        &src[open..]
    ))
}

const OPS: [&str; 5] = [
    "coopLoadT",
    "coopLoad",
    "coopStoreT",
    "coopStore",
    "coopMultiplyAdd",
];

/// Rewrites every cooperative call in `src`, noting the helpers it needs as (op, buffer).
fn calls(src: &str, helpers: &mut BTreeSet<(String, String)>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = src;
    while let Some(at) = rest.find("coop") {
        let ident_end = rest[at..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(rest.len(), |e| at + e);
        let name = &rest[at..ident_end];
        if !OPS.contains(&name) {
            out.push_str(&rest[..ident_end]);
            rest = &rest[ident_end..];
            continue;
        }
        out.push_str(&rest[..at]);
        let mut tail = &rest[ident_end..];
        if tail.starts_with('<') {
            tail = &tail[matching(tail, '<', '>')? + 1..];
        }
        if !tail.starts_with('(') {
            return Err(format!("{name} without an argument list"));
        }
        let close = matching(tail, '(', ')')?;
        let args: Vec<String> = split_args(&tail[1..close])
            .into_iter()
            .map(|a| calls(a, helpers))
            .collect::<Result<_, _>>()?;
        rest = &tail[close + 1..];
        let stride = |i: usize| args.get(i).cloned().unwrap_or_else(|| "16u".into());
        let call = match name {
            "coopMultiplyAdd" if args.len() == 3 => {
                format!("emu_mma({}, {}, {})", args[0], args[1], args[2])
            }
            "coopLoad" | "coopLoadT" => {
                let (buf, index) = element(&args[0])?;
                let op = format!("load{}", if name.ends_with('T') { "t" } else { "" });
                let call = format!("emu_{op}_{buf}({index}, {})", stride(1));
                helpers.insert((op, buf));
                call
            }
            "coopStore" | "coopStoreT" if args.len() >= 2 => {
                let (buf, index) = element(&args[1])?;
                let op = format!("store{}", if name.ends_with('T') { "t" } else { "" });
                let call = format!("emu_{op}_{buf}({}, {index}, {})", args[0], stride(2));
                helpers.insert((op, buf));
                call
            }
            _ => return Err(format!("{name} with {} arguments", args.len())),
        };
        out.push_str(&call);
    }
    out.push_str(rest);
    Ok(out)
}

/// The index of the bracket closing the one `text` starts with.
fn matching(text: &str, open: char, close: char) -> Result<usize, String> {
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return Ok(i);
            }
        }
    }
    Err(format!("unbalanced {open}{close} in {text:.60}"))
}

/// Splits an argument list at its top-level commas.
fn split_args(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(text[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(text[start..].trim());
    out
}

/// `&buf[index]` → (buf, index).
fn element(arg: &str) -> Result<(String, String), String> {
    let inner = arg
        .strip_prefix('&')
        .ok_or_else(|| format!("expected &buffer[index], got {arg}"))?;
    let open = inner
        .find('[')
        .ok_or_else(|| format!("expected &buffer[index], got {arg}"))?;
    let close = open + matching(&inner[open..], '[', ']')?;
    Ok((
        inner[..open].trim().to_string(),
        inner[open + 1..close].to_string(),
    ))
}

/// `coop_mat16x16<T, R>` → `array<T, 256>`.
fn types(src: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = src;
    while let Some(at) = rest.find("coop_mat16x16<") {
        out.push_str(&rest[..at]);
        let tail = &rest[at + "coop_mat16x16".len()..];
        let close = matching(tail, '<', '>')?;
        let elem = tail[1..close].split(',').next().unwrap_or("").trim();
        out.push_str(&format!("array<{elem}, 256>"));
        rest = &tail[close + 1..];
    }
    if rest.contains("coop_mat") {
        return Err("only 16×16 cooperative matrices are emulated".into());
    }
    out.push_str(rest);
    Ok(out)
}

/// The scalar type of module-scope array `buf` in `src`.
fn element_type(src: &str, buf: &str) -> Result<String, String> {
    src.lines()
        .filter(|l| l.contains("var<"))
        .find_map(|l| {
            let (_, decl) = l.split_once('>')?;
            let (name, ty) = decl.split_once(':')?;
            (name.trim() == buf).then(|| ty.trim().trim_start_matches("array<").to_string())
        })
        .and_then(|ty| {
            let elem = ty.split([',', '>']).next()?.trim().to_string();
            matches!(elem.as_str(), "f16" | "f32").then_some(elem)
        })
        .ok_or_else(|| format!("{buf} is not a module-scope array of f16 or f32"))
}

/// The plain-WGSL function standing for `op` on buffer `buf`. Its own names start with `emu_`, so
/// they cannot shadow the kernel's buffers. lavapipe compiles these private 256-element arrays
/// slowly (minutes per kernel), so the tests run few sizes.
fn helper(src: &str, op: &str, buf: &str) -> Result<String, String> {
    let t = element_type(src, buf)?;
    // Element (r, c) of the matrix sits at off + r·stride + c row-major, off + c·stride + r
    // column-major.
    let at = if op.ends_with('t') {
        "emu_off + emu_r * emu_stride + emu_c"
    } else {
        "emu_off + emu_c * emu_stride + emu_r"
    };
    let (signature, init, body, ret) = if op.starts_with("load") {
        (
            format!("emu_off: u32, emu_stride: u32) -> array<{t}, 256>"),
            format!(
                "var emu_m: array<{t}, 256>;\n    if (!emu_lead) {{\n        return emu_m;\n    }}"
            ),
            format!("emu_m[emu_r * 16u + emu_c] = {buf}[{at}];"),
            "\n    return emu_m;",
        )
    } else {
        (
            format!("emu_value: array<{t}, 256>, emu_off: u32, emu_stride: u32)"),
            "if (!emu_lead) {\n        return;\n    }\n    var emu_m = emu_value;".to_string(),
            format!("{buf}[{at}] = emu_m[emu_r * 16u + emu_c];"),
            "",
        )
    };
    Ok(format!(
        "fn emu_{op}_{buf}({signature} {{
    {init}
    for (var emu_r = 0u; emu_r < 16u; emu_r++) {{
        for (var emu_c = 0u; emu_c < 16u; emu_c++) {{
            {body}
        }}
    }}{ret}
}}
"
    ))
}

/// The multiply-add every lowered kernel gets: C + A·B, f16 inputs, f32 accumulation.
const MMA: &str =
    "fn emu_mma(a: array<f16, 256>, b: array<f16, 256>, c: array<f32, 256>) -> array<f32, 256> {
    if (!emu_lead) {
        return c;
    }
    var x = a;
    var y = b;
    var z = c;
    for (var r = 0u; r < 16u; r++) {
        for (var col = 0u; col < 16u; col++) {
            var acc = z[r * 16u + col];
            for (var i = 0u; i < 16u; i++) {
                acc += f32(x[r * 16u + i]) * f32(y[i * 16u + col]);
            }
            z[r * 16u + col] = acc;
        }
    }
    return z;
}
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_types_and_helpers_are_rewritten() {
        let src = "enable f16;\nenable wgpu_cooperative_matrix;\n\
            var<workgroup> t: array<f16, 512>;\n\
            @group(0) @binding(2) var<storage, read_write> c: array<f32>;\n\
            fn main(@builtin(local_invocation_index) i: u32) {\n\
              var acc = coop_mat16x16<f32, C>();\n\
              let a = coopLoadT<coop_mat16x16<f16, A>>(&t[i * (2u + 1u)], 32u);\n\
              let b = coopLoad<coop_mat16x16<f16, B>>(&t[f(1u, 2u)]);\n\
              acc = coopMultiplyAdd(a, b, acc);\n\
              coopStoreT(acc, &c[i], 16u);\n\
            }\n";
        let out = lower(src).unwrap();
        assert!(
            !out.contains("coop_mat") && !out.contains("coopLoad"),
            "{out}"
        );
        assert!(!out.contains("wgpu_cooperative_matrix"), "{out}");
        assert!(out.contains("var acc = array<f32, 256>();"), "{out}");
        assert!(out.contains("emu_loadt_t(i * (2u + 1u), 32u)"), "{out}");
        assert!(out.contains("emu_load_t(f(1u, 2u), 16u)"), "{out}");
        assert!(out.contains("emu_mma(a, b, acc)"), "{out}");
        assert!(out.contains("emu_storet_c(acc, i, 16u)"), "{out}");
        assert!(out.contains("fn emu_loadt_t(emu_off: u32, emu_stride: u32) -> array<f16, 256>"));
        assert!(out.contains("fn emu_storet_c(emu_value: array<f32, 256>"));
        assert!(out.contains("{\n    emu_lead = i % 32u == 0u;"), "{out}");
        assert!(lower("let x = coopLoadT(&v, 16u);").is_err());
    }
}
