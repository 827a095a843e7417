//! The baseline library: every profile loads, its flags and sources stay as audited, and
//! impossible values and unknown sources are refused.

use super::*;

#[test]
fn required_profiles_ship_and_are_valid() {
    let ids = ids();
    for id in [
        "aws-p5.48xlarge",
        "aws-p4d.24xlarge",
        "azure-nd-h100-v5",
        "gcp-a3-highgpu-8g",
        "lumi-g",
        "leonardo-booster",
        "marenostrum5-acc",
        "jupiter-booster",
        // The full library of shared/reference/baselines.md.
        "aws-p4de.24xlarge",
        "aws-p5en.48xlarge",
        "gcp-a2-highgpu-8g",
        "gcp-a3-megagpu-8g",
        "azure-nd-a100-v4",
        "alps-gh200",
        "vega-gpu",
        "isambard-ai",
        "a100-sxm-40gb",
        "a100-sxm-80gb",
        "h100-sxm",
        "h200-sxm",
        "gh200",
        "mi250x",
        "mi300x",
    ] {
        assert!(ids.contains(&id.to_string()), "missing {id}");
    }
    // Accelerator-only profiles describe one package.
    for p in embedded()
        .iter()
        .filter(|p| p.kind == ProfileKind::Accelerator)
    {
        assert_eq!(p.accelerator_count(), 1, "{}", p.id);
    }
    for p in embedded() {
        assert!(p.problems().is_empty(), "{}: {:?}", p.id, p.problems());
        let file = EMBEDDED
            .iter()
            .find(|(_, t)| t.contains(&format!("id = \"{}\"", p.id)));
        assert_eq!(
            file.unwrap().0,
            format!("{}.toml", p.id),
            "file named after its id"
        );
    }
}

#[test]
fn flagged_numbers_stay_flagged() {
    let lumi = lookup("lumi-g").unwrap();
    // AMD's official FP64 figures (220 CUs × 128 / 256 FLOP per clock × 1.7 GHz).
    assert!(!lumi.peak("f64").unwrap().uncertain);
    assert!(!lumi.peak("f64-matrix").unwrap().uncertain);
    assert!(!lumi.peak("bf16").unwrap().uncertain);
    assert_eq!(
        lumi.accelerator.as_ref().unwrap().devices_per_accelerator,
        2
    );
    let mn5 = lookup("marenostrum5-acc").unwrap();
    assert!(mn5.accelerator.as_ref().unwrap().uncertain);
    assert!(mn5.links.iter().all(|l| l.uncertain));
    assert!(mn5.cpu.as_ref().unwrap().uncertain);
    // The MI250X FP64 figures are AMD's official ones (220 CUs × 128 vector / 256 matrix
    // FP64 FLOP per clock × 1.7 GHz): not flagged, their derivation stated.
    let mi250x = lookup("mi250x").unwrap();
    for d in ["f64", "f64-matrix"] {
        let pk = mi250x.peak(d).unwrap();
        assert!(!pk.uncertain, "{d}");
        assert!(pk.note.as_deref().unwrap().contains("1.7 GHz"), "{d}");
    }
    assert_eq!(mi250x.accelerator.unwrap().devices_per_accelerator, 2);
    // Derived or secondary figures of the new profiles.
    assert!(lookup("gcp-a2-highgpu-8g").unwrap().cpu.unwrap().uncertain);
    assert!(lookup("isambard-ai").unwrap().cpu.unwrap().uncertain);
    assert!(lookup("alps-gh200").unwrap().links[0].uncertain);
    let vega = lookup("vega-gpu").unwrap();
    assert!(vega.accelerator.unwrap().uncertain && vega.links[0].uncertain);
    // The custom Leonardo A100 has no published peaks: none are guessed.
    assert!(
        lookup("leonardo-booster")
            .unwrap()
            .accelerator
            .unwrap()
            .peaks
            .is_empty()
    );
}

#[test]
fn p5_figures_match_the_reference_sheet() {
    let p5 = lookup(DEFAULT_BASELINE).unwrap();
    assert_eq!(p5.accelerator_count(), 8);
    assert_eq!(p5.peak("f32").unwrap().value, 67.0);
    assert_eq!(p5.peak("bf16").unwrap().value, 989.0);
    let price = p5.price.as_ref().unwrap();
    assert_eq!(
        (price.usd_per_hour, price.date.as_str()),
        (Some(55.04), "2026-11-09")
    );
    assert!(p5.cite("S27").contains("H100"));
}

#[test]
fn unresolved_sources_and_unknown_ids_are_refused() {
    let text = EMBEDDED[0]
        .1
        .replace("[sources]", "[sources]\nZZ = \"x\"\n[ignored]");
    assert!(Profile::from_toml(&text, "x.toml").is_err());
    let bad = r#"
id = "x"
name = "X"
kind = "cloud"
summary = "s"
[accelerator]
model = "m"
count = 1
source = "S9"
[sources]
S1 = "a"
"#;
    let err = Profile::from_toml(bad, "x.toml").unwrap_err();
    assert!(err.to_string().contains("source `S9`"), "{err}");
    let err = lookup("no-such-machine").unwrap_err();
    assert!(err.to_string().contains("aws-p5.48xlarge"), "{err}");
    assert_eq!(crate::error::exit_code(&err), 2);
}

/// The same published figure (same benchmark, data type, parameters, value and cited
/// source) carries the same uncertainty flag in every machine profile that uses it; so does
/// the same link rate. (An accelerator profile may cite its own part's figure unflagged
/// where a system with another SKU of that part flags it.)
#[test]
fn the_same_figure_carries_the_same_flag_everywhere() {
    use std::collections::HashMap;
    let mut refs: HashMap<String, Vec<(String, bool)>> = HashMap::new();
    let mut links: HashMap<String, Vec<(String, bool)>> = HashMap::new();
    for p in embedded()
        .into_iter()
        .filter(|p| p.kind != ProfileKind::Accelerator)
    {
        for r in &p.references {
            let key = format!(
                "{} {} {} {} {}",
                r.bench,
                r.dtype,
                r.params,
                r.value,
                p.cite(&r.source)
            );
            refs.entry(key)
                .or_default()
                .push((p.id.clone(), r.uncertain));
        }
        for l in &p.links {
            let key = format!("{} {} {} {}", l.value, l.unit, l.per, p.cite(&l.source));
            links
                .entry(key)
                .or_default()
                .push((p.id.clone(), l.uncertain));
        }
    }
    for (key, uses) in refs.iter().chain(&links) {
        let flags: Vec<bool> = uses.iter().map(|u| u.1).collect();
        assert!(
            flags.iter().all(|f| *f == flags[0]),
            "{key}: flagged differently in {uses:?}"
        );
    }
}

/// Zero, negative, NaN and infinite figures, and a zero device count, are refused when a
/// profile is loaded, naming the key and the file.
#[test]
fn impossible_values_are_refused_on_load() {
    let good = EMBEDDED
        .iter()
        .find(|(n, _)| n.contains("aws-p5.48xlarge"))
        .unwrap()
        .1;
    for (from, to, key) in [
        (
            "memory_bw_gbs = { value = 3350",
            "memory_bw_gbs = { value = 0",
            "accelerator.memory_bw_gbs",
        ),
        ("value = 794.5", "value = nan", "references (matmul bf16"),
        ("value = 794.5", "value = -3", "references (matmul bf16"),
        ("value = 794.5", "value = inf", "references (matmul bf16"),
        (
            "count = 8\n",
            "count = 8\ndevices_per_accelerator = 0\n",
            "devices_per_accelerator",
        ),
        (
            "usd_per_hour = 55.04",
            "usd_per_hour = 0",
            "price.usd_per_hour",
        ),
        ("value = 3200", "value = -1", "links (EFA v2"),
        ("tool = \"mamf-finder\"\n", "", "`tool` is missing"),
    ] {
        let text = good.replacen(from, to, 1);
        assert_ne!(text, good, "{from}");
        let err = Profile::from_toml(&text, "bad.toml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("bad.toml:"), "{msg}");
        assert!(msg.contains(key), "{key}: {msg}");
        assert_eq!(crate::error::exit_code(&err), 2);
    }
}
