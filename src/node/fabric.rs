//! The high-speed network a node has, as /sys shows it.

use serde::{Deserialize, Serialize};

/// The high-speed network a node has, from /sys (what the checklist's interconnect item found).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fabric {
    /// HPE Slingshot (`/sys/class/cxi`).
    Slingshot,
    /// AWS EFA (`/sys/class/infiniband/efa*`).
    Efa,
    /// InfiniBand or RoCE (`/sys/class/infiniband`).
    Infiniband,
}

impl Fabric {
    /// In words.
    pub fn name(self) -> &'static str {
        match self {
            Self::Slingshot => "HPE Slingshot",
            Self::Efa => "AWS EFA",
            Self::Infiniband => "InfiniBand",
        }
    }
}
