"""The Container Runtime Interface: `berth cri serve`, a kubelet's node runtime (docs/cri.md)."""
