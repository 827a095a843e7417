//! All-reduce across the GPUs of one node through wgpu, staged through host memory (wgpu has no
//! GPU-to-GPU path). Labelled "host-staged" wherever it appears; never compared as if it were
//! NCCL's busbw.
