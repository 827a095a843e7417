//! The one-sentence headline of a comparison: this node's best matmul against the baseline's
//! peak, per device or per node as the figures stand for.

use super::{Basis, Row, dtype_key, percent};
use crate::bench::{BenchKind, num};
use crate::profiles::Profile;
use crate::results::{DeviceKind, Results};

pub(super) fn headline(results: &Results, profile: &Profile, rows: &[Row]) -> String {
    // The device of the node's compute figures (a collective's ranks are not a device).
    let first = results
        .measurements
        .iter()
        .find(|m| m.is_valid() && m.device_kind != DeviceKind::Collective);
    let device = first
        .map(|m| format!("its {} ({})", m.device_kind.label(), m.device))
        .unwrap_or_else(|| "this node".into());
    // A CPU is the whole node's compute; a GPU figure is one device, compared per accelerator.
    let per_accelerator = first.is_some_and(|m| m.device_kind.per_device());
    let mut parts = Vec::new();
    let matmul = rows
        .iter()
        .filter(|r| r.bench == BenchKind::Matmul && r.ours.is_some())
        .max_by(|a, b| {
            let v = |r: &Row| r.ours.map_or(0.0, |t| t.value);
            v(a).total_cmp(&v(b))
        });
    if let Some(r) = matmul {
        let mut s = format!(
            "{} delivers {} of {} matmul",
            capitalise(&device),
            r.ours.map(|t| t.to_string()).unwrap_or_default(),
            r.dtype
        );
        if let (Some(acc), Some(p)) = (&profile.accelerator, profile.peak(dtype_key(r.dtype))) {
            let ours = r.ours.map_or(0.0, |t| t.value);
            if per_accelerator && acc.devices_per_accelerator > 1 {
                let device = p.value / f64::from(acc.devices_per_accelerator);
                s.push_str(&format!(
                    " on one device: {} of one {} device's {} peak ({} TFLOP/s: the package's {} ÷ {}, datasheet)",
                    percent(ours / device),
                    acc.model,
                    r.dtype,
                    num(device),
                    num(p.value),
                    acc.devices_per_accelerator
                ));
            } else if per_accelerator {
                s.push_str(&format!(
                    " on one device: {} of one {}'s {} peak ({} TFLOP/s, datasheet)",
                    percent(ours / p.value),
                    acc.model,
                    r.dtype,
                    num(p.value)
                ));
            } else {
                let node_peak = p.value * acc.count as f64;
                s.push_str(&format!(
                    ": {} of {}'s {} peak ({} × {} TFLOP/s, datasheet)",
                    percent(ours / node_peak),
                    profile.name,
                    r.dtype,
                    acc.count,
                    num(p.value)
                ));
            }
        }
        parts.push(s + ".");
        if let (Some(f), Some(b)) = (r.our_fraction_of_peak, &r.baseline)
            && let Some(bf) = b.fraction_of_peak
            && r.basis == Basis::FractionOfPeak
        {
            parts.push(format!(
                "Its kernel reaches {} of its own measured peak, against {} for the baseline's \
                 published {} result.",
                percent(f),
                percent(bf),
                b.what.split(" (").next().unwrap_or("")
            ));
        }
        if let (Some(x), Some(b)) = (r.ratio, &r.baseline)
            && r.basis == Basis::LikeForLike
        {
            parts.push(format!(
                "Measured the way the baseline's figure was ({} against {}), it is {} of the \
                 baseline's {} {}.",
                r.ours_method.as_deref().unwrap_or("?"),
                b.method,
                percent(x),
                num(b.value),
                b.unit
            ));
        }
    } else if let Some(r) = rows.iter().find(|r| r.ours.is_some()) {
        parts.push(format!(
            "{} measured {} {} at {}.",
            capitalise(&device),
            r.bench,
            r.dtype,
            r.ours.map(|t| t.to_string()).unwrap_or_default()
        ));
    } else {
        parts.push("Nothing was measured validly.".into());
    }
    parts.join(" ")
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}
