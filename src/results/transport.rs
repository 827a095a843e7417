//! The network a collective library chose between nodes, as its own lines say (read by
//! `comm::nccl_log`), recorded with the ranks of a run.

use serde::{Deserialize, Serialize};

/// The network NCCL/RCCL chose, with the lines that say so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transport {
    /// What carries traffic between nodes.
    pub network: Network,
    /// The line that says so, without its host/pid prefix.
    pub evidence: String,
    /// Whether a network plugin (`libnccl-net*.so`, `librccl-net*.so`) was loaded, and the line.
    pub plugin: Option<(bool, String)>,
    /// Warnings of the network setup (`NCCL WARN NET/…`), prefix removed.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// What carries NCCL/RCCL's traffic between nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "provider")]
pub enum Network {
    /// TCP sockets (NCCL's fallback).
    Socket,
    /// NCCL's own InfiniBand / RoCE verbs transport.
    Ib,
    /// A libfabric plugin (aws-ofi-nccl / aws-ofi-rccl), with its provider when printed
    /// (`cxi` on Slingshot, `efa` on AWS, `tcp`/`sockets` as libfabric's own fallbacks).
    Ofi(Option<String>),
    /// Another plugin, by the name NCCL printed.
    Other(String),
}

impl Network {
    /// In words.
    pub fn describe(&self) -> String {
        match self {
            Self::Socket => "TCP sockets".into(),
            Self::Ib => "InfiniBand verbs".into(),
            Self::Ofi(Some(p)) => format!("libfabric (OFI plugin), provider {p}"),
            Self::Ofi(None) => "libfabric (OFI plugin)".into(),
            Self::Other(n) => format!("the {n} plugin"),
        }
    }

    /// Whether this is a TCP fallback (NCCL's sockets, or libfabric's tcp/sockets providers).
    pub fn is_tcp(&self) -> bool {
        match self {
            Self::Socket => true,
            Self::Ofi(Some(p)) => {
                let p = p.to_ascii_lowercase();
                p.starts_with("tcp") || p.starts_with("sockets") || p.starts_with("udp")
            }
            _ => false,
        }
    }
}
