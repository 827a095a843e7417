//! What NCCL/RCCL says about its network: the transport it chose between nodes (its own
//! InfiniBand verbs, TCP sockets, or a plugin such as aws-ofi-nccl/aws-ofi-rccl over libfabric's
//! `cxi` (Slingshot) or `efa` provider) and whether a plugin was found, read from the
//! `NCCL_DEBUG=INFO` lines (subsystems INIT and NET) the harness captures. RCCL prints the same
//! lines under the same names.
//!
//! The lines read (as NCCL 2.4–2.27 and aws-ofi-nccl print them, after the `host:pid:tid [dev]
//! NCCL INFO` prefix): `Using network Socket|IB|Libfabric|AWS Libfabric`, `NET/OFI Selected
//! Provider is cxi (found 4 nics)`, `NET/IB : Using [0]mlx5_0:1/IB …`, `NET/IB : No device
//! found.`, `NET/Socket : Using [0]eth0:…`, `NET/Plugin … No plugin found (libnccl-net.so)` /
//! `… Could not find: libnccl-net.so` / `… Plugin load returned 2 …`, and `NCCL WARN NET/OFI …`.

use crate::node::Fabric;
use crate::results::{Network, Transport};

/// The part of a line after `NCCL INFO ` / `NCCL WARN ` (the whole line if neither).
fn body(line: &str) -> &str {
    for tag in ["NCCL INFO ", "NCCL WARN "] {
        if let Some(i) = line.find(tag) {
            return line[i + tag.len()..].trim();
        }
    }
    line.trim()
}

/// Reads the transport from captured lines; `None` when no line says which network was chosen.
pub fn read(lines: &[String]) -> Option<Transport> {
    let mut using: Option<(Network, String)> = None;
    let mut provider: Option<(String, String)> = None;
    let mut fallback: Option<(Network, String)> = None;
    let mut plugin: Option<(bool, String)> = None;
    let mut warnings = Vec::new();
    for line in lines {
        let b = body(line);
        if line.contains("NCCL WARN") && (b.starts_with("NET/") || b.contains("OFI")) {
            if !warnings.iter().any(|w| w == b) && warnings.len() < 5 {
                warnings.push(b.to_string());
            }
            continue;
        }
        if let Some(name) = b.strip_prefix("Using network ") {
            let name = name.trim();
            let net = match name {
                "Socket" => Network::Socket,
                "IB" => Network::Ib,
                n if n.contains("Libfabric") || n.contains("OFI") => Network::Ofi(None),
                n => Network::Other(n.to_string()),
            };
            using.get_or_insert((net, b.to_string()));
        } else if let Some(rest) = b
            .strip_prefix("NET/OFI Selected Provider is ")
            .or_else(|| b.strip_prefix("NET/OFI Selected provider is "))
        {
            let p: String = rest
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != ',')
                .collect();
            provider.get_or_insert((p, b.to_string()));
        } else if b.starts_with("NET/IB") && b.contains("Using") {
            fallback.get_or_insert((Network::Ib, b.to_string()));
        } else if b.starts_with("NET/Socket") && b.contains("Using") {
            // NCCL sets its socket transport up even when IB is used: only a fallback.
            if !matches!(fallback, Some((Network::Ib, _))) {
                fallback = Some((Network::Socket, b.to_string()));
            }
        } else if b.starts_with("NET/Plugin") {
            let lower = b.to_ascii_lowercase();
            if lower.contains("loaded") {
                plugin = Some((true, b.to_string()));
            } else if (lower.contains("no plugin found")
                || lower.contains("could not find")
                || lower.contains("returned"))
                && !matches!(plugin, Some((true, _)))
            {
                plugin.get_or_insert((false, b.to_string()));
            }
        }
    }
    let (network, evidence) = match (using, &provider, fallback) {
        (Some((Network::Ofi(_), line)), Some((p, _)), _) => (Network::Ofi(Some(p.clone())), line),
        (Some(u), _, _) => u,
        (None, Some((p, line)), _) => (Network::Ofi(Some(p.clone())), line.clone()),
        (None, None, Some(f)) => f,
        (None, None, None) => return None,
    };
    let evidence = match (&network, &provider) {
        (Network::Ofi(Some(_)), Some((_, line))) if *line != evidence => {
            format!("{evidence}; {line}")
        }
        _ => evidence,
    };
    Some(Transport {
        network,
        evidence,
        plugin,
        warnings,
    })
}

/// The porting checklist's item for the transport NCCL/RCCL chose on a node with `fabric`:
/// a TCP fallback where a high-speed network exists fails with the fix, quoting the line.
pub fn check(
    transport: Option<&Transport>,
    fabric: Option<Fabric>,
    backend: &str,
) -> crate::node::checklist::Check {
    use crate::node::checklist::{Check, Status};
    let lib = if backend == "nccl" {
        "NCCL/RCCL"
    } else {
        backend
    };
    let item = format!("{lib} transport between nodes (torch.distributed)");
    let mk = |status, finding: String, advice: String| Check {
        id: "collective-transport".into(),
        item: item.clone(),
        status,
        finding,
        advice,
    };
    let Some(t) = transport else {
        return mk(
            Status::Info,
            format!("{lib} printed no line naming its network"),
            "run with NCCL_DEBUG=INFO NCCL_DEBUG_SUBSYS=INIT,NET to see what it chose".into(),
        );
    };
    let quoted = format!("{}: \"{}\"", t.network.describe(), t.evidence);
    let plugin_missing = matches!(&t.plugin, Some((false, _)));
    match fabric {
        Some(f) if t.network.is_tcp() || (plugin_missing && f != Fabric::Infiniband) => {
            let fix = match f {
                Fabric::Slingshot => {
                    "load the site's aws-ofi-rccl / aws-ofi-nccl module (LUMI: `module load \
                     aws-ofi-rccl`), or bind it and libfabric into the container \
                     (`--bind /opt/cray/libfabric`, its directory on LD_LIBRARY_PATH), and set \
                     FI_PROVIDER=cxi and NCCL_SOCKET_IFNAME=hsn0,hsn1,hsn2,hsn3"
                }
                Fabric::Efa => {
                    "install or bind aws-ofi-nccl and libfabric from the EFA installer, expose \
                     /dev/infiniband to the container, and set FI_PROVIDER=efa"
                }
                Fabric::Infiniband => {
                    "NCCL could not open the HCA: bind /dev/infiniband and libibverbs into the \
                     container, and check NCCL_IB_HCA and NCCL_SOCKET_IFNAME"
                }
            };
            let plugin = match &t.plugin {
                Some((false, line)) => format!("; \"{line}\""),
                _ => String::new(),
            };
            mk(
                Status::Fail,
                format!(
                    "{lib} chose {quoted}{plugin} on a node with {}: collectives between nodes \
                     would run many times slower than the fabric allows",
                    f.name()
                ),
                fix.into(),
            )
        }
        Some(f) => mk(
            if t.warnings.is_empty() {
                Status::Pass
            } else {
                Status::Warn
            },
            format!(
                "{lib} chose {quoted} on a node with {}{}",
                f.name(),
                t.warnings
                    .first()
                    .map(|w| format!("; it warned: \"{w}\""))
                    .unwrap_or_default()
            ),
            "the library uses the fabric".into(),
        ),
        None => mk(
            if t.network.is_tcp() {
                Status::Warn
            } else {
                Status::Pass
            },
            format!("{lib} chose {quoted}; no high-speed fabric was found under /sys/class"),
            "multi-node training needs the compute partition's fabric".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::checklist::Status;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(String::from).collect()
    }

    #[test]
    fn infiniband() {
        let t = read(&lines(
            "gpu1:812:812 [0] NCCL INFO Bootstrap : Using ib0:10.1.0.5<0>\n\
             gpu1:812:812 [0] NCCL INFO NET/Plugin : No plugin found (libnccl-net.so), using internal implementation\n\
             gpu1:812:830 [0] NCCL INFO NET/IB : Using [0]mlx5_0:1/IB [1]mlx5_1:1/IB ; OOB ib0:10.1.0.5<0>\n\
             gpu1:812:830 [0] NCCL INFO Using network IB",
        ))
        .unwrap();
        assert_eq!(t.network, Network::Ib);
        assert_eq!(t.evidence, "Using network IB");
        assert!(matches!(t.plugin, Some((false, _))));
        // IB needs no plugin: passes.
        let c = check(Some(&t), Some(Fabric::Infiniband), "nccl");
        assert_eq!(c.status, Status::Pass, "{c:?}");
    }

    #[test]
    fn socket_fallback_on_slingshot_fails_with_the_fix() {
        let t = read(&lines(
            "nid005:77:77 [0] NCCL INFO NET/Plugin: Could not find: librccl-net.so. Using internal network plugin.\n\
             nid005:77:77 [0] NCCL INFO NET/IB : No device found.\n\
             nid005:77:77 [0] NCCL INFO NET/Socket : Using [0]hsn0:10.253.6.9<0> [1]nmn0:10.252.1.9<0>\n\
             nid005:77:77 [0] NCCL INFO Using network Socket",
        ))
        .unwrap();
        assert_eq!(t.network, Network::Socket);
        let c = check(Some(&t), Some(Fabric::Slingshot), "nccl");
        assert_eq!(c.status, Status::Fail);
        assert!(c.finding.contains("\"Using network Socket\""), "{c:?}");
        assert!(c.finding.contains("librccl-net.so"), "{c:?}");
        assert!(
            c.advice.contains("aws-ofi-rccl") && c.advice.contains("FI_PROVIDER=cxi"),
            "{c:?}"
        );
        // Without the "Using network" line (old NCCL), the socket line decides.
        let old = read(&lines(
            "h:1:1 [0] NCCL INFO NET/Plugin : No plugin found (libnccl-net.so).\n\
             h:1:1 [0] NCCL INFO NET/IB : No device found.\n\
             h:1:1 [0] NCCL INFO NET/Socket : Using [0]eth0:172.17.0.2<0>",
        ))
        .unwrap();
        assert_eq!(old.network, Network::Socket);
        assert_eq!(
            check(Some(&old), None, "nccl").status,
            Status::Warn,
            "TCP with no fabric to use is only a warning"
        );
    }

    #[test]
    fn ofi_cxi_and_efa() {
        let t = read(&lines(
            "nid007:5:9 [0] NCCL INFO NET/Plugin: Loaded net plugin Libfabric (v8)\n\
             nid007:5:9 [0] NCCL INFO NET/OFI Selected Provider is cxi (found 4 nics)\n\
             nid007:5:9 [0] NCCL INFO Using network AWS Libfabric",
        ))
        .unwrap();
        assert_eq!(t.network, Network::Ofi(Some("cxi".into())));
        assert!(
            t.evidence.contains("Selected Provider is cxi"),
            "{}",
            t.evidence
        );
        assert_eq!(
            check(Some(&t), Some(Fabric::Slingshot), "nccl").status,
            Status::Pass
        );
        let e = read(&lines(
            "p5:6310:6318 [0] NCCL INFO NET/OFI Selected provider is efa, fabric is efa-direct (found 16 nics)\n\
             p5:6310:6318 [0] NCCL INFO Using network Libfabric",
        ))
        .unwrap();
        assert_eq!(e.network, Network::Ofi(Some("efa".into())));
        // libfabric's own TCP provider on Slingshot is a fallback too.
        let tcp = read(&lines(
            "n:1:1 [0] NCCL INFO NET/OFI Selected Provider is tcp;ofi_rxm (found 1 nics)",
        ))
        .unwrap();
        assert!(tcp.network.is_tcp());
        assert_eq!(
            check(Some(&tcp), Some(Fabric::Slingshot), "nccl").status,
            Status::Fail
        );
    }

    #[test]
    fn failures_and_silence() {
        assert_eq!(
            read(&lines("h:1:1 [0] NCCL INFO Bootstrap : Using eth0")),
            None
        );
        let c = check(None, Some(Fabric::Efa), "nccl");
        assert_eq!(c.status, Status::Info);
        let t = read(&lines(
            "ip-10:79:79 [0] NCCL INFO NET/OFI Selected Provider is efa (found 4 nics)\n\
             ip-10:79:85 [0] nccl_net_ofi_rdma_init:7978 NCCL WARN NET/OFI OFI fi_getinfo() call failed: No data available\n\
             ip-10:79:79 [0] NCCL INFO Using network Libfabric",
        ))
        .unwrap();
        assert_eq!(t.warnings.len(), 1);
        let c = check(Some(&t), Some(Fabric::Efa), "nccl");
        assert_eq!(c.status, Status::Warn);
        assert!(c.finding.contains("fi_getinfo() call failed"), "{c:?}");
    }
}
