//! Import tests on logs written here in each format variant the tools produce.

use super::*;

fn hints() -> Hints {
    Hints::default()
}

/// nccl-tests 2.13+ through mpirun --tag-output on 2 nodes, with NCCL INFO lines between.
const NEW_MPIRUN: &str = "\
[1,0]<stdout>:# nccl-tests version 2.17.1 nccl-headers=22703 nccl-library=22703
[1,0]<stdout>:# Collective test starting: all_reduce_perf
[1,0]<stdout>:# nThread 1 nGpus 1 minBytes 8 maxBytes 134217728 step: 2(factor) warmup iters: 5 iters: 20 agg iters: 1 validation: 1 graph: 0
[1,0]<stdout>:#
[1,0]<stdout>:# Using devices
[1,0]<stdout>:#  Rank  0 Group  0 Pid  41001 on    gpu-a01 device  0 [0000:1b:00] NVIDIA H100 80GB HBM3
[1,0]<stdout>:#  Rank  1 Group  0 Pid  41002 on    gpu-a01 device  1 [0000:29:00] NVIDIA H100 80GB HBM3
[1,2]<stdout>:#  Rank  2 Group  0 Pid  52001 on    gpu-a02 device  0 [0000:1b:00] NVIDIA H100 80GB HBM3
[1,2]<stdout>:#  Rank  3 Group  0 Pid  52002 on    gpu-a02 device  1 [0000:29:00] NVIDIA H100 80GB HBM3
gpu-a01:41001:41001 [0] NCCL INFO Bootstrap : Using ib0:10.0.0.1<0>
gpu-a01:41001:41001 [0] NCCL INFO NET/OFI Selected Provider is cxi
[1,0]<stdout>:#
[1,0]<stdout>:#                                                              out-of-place                       in-place
[1,0]<stdout>:#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong
[1,0]<stdout>:#        (B)    (elements)                               (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)
[1,0]<stdout>:           8             2     float     sum      -1    34.52    0.00    0.00      0    33.86    0.00    0.00      0
gpu-a02:52001:52010 [0] NCCL WARN NET/IB : Got async event : port error
[1,0]<stdout>:     1048576        262144     float     sum      -1    112.4    9.33   14.00      0    110.9    9.45   14.18      0
[1,0]<stdout>:   134217728      33554432     float     sum      -1   1801.2   74.51  111.77      0   1799.0   74.61  111.91      0
[1,0]<stdout>:# Out of bounds values : 0 OK
[1,0]<stdout>:# Avg bus bandwidth    : 41.97
[1,0]<stdout>:#
[1,0]<stdout>:# Collective test concluded: all_reduce_perf
";

/// An old nccl-tests (2018–2019): `error` column holding the largest deviation, no `root`, no
/// collective line; the command echoed above the output; a `srun --label` prefix.
const OLD_LABELLED: &str = "\
$ srun --label -N 2 ./build/all_reduce_perf -b 8 -e 128M -f 2 -g 1
0: # nThread 1 nGpus 1 minBytes 8 maxBytes 134217728 step: 2(factor) warmup iters: 5 iters: 20 validation: 1
0: #
0: # Using devices
0: #   Rank  0 Pid  11111 on     node01 device  0 [0x06] Tesla V100-SXM2-32GB
1: #   Rank  1 Pid  22222 on     node02 device  0 [0x06] Tesla V100-SXM2-32GB
0: #
0: #                                                     out-of-place                       in-place
0: #       size         count    type   redop     time   algbw   busbw  error     time   algbw   busbw  error
0: #        (B)    (elements)                     (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)
0:            8             2   float     sum    37.38    0.00    0.00  0e+00    36.94    0.00    0.00  0e+00
0:      4194304       1048576   float     sum   1632.1    2.57    2.57  0e+00   1630.8    2.57    2.57  0e+00
0: # Out of bounds values : 0 OK
";

/// Two collectives in one file (all_gather, then all_reduce), the second without a data check
/// (`-c 0` prints N/A) and with a garbled row.
const TWO_COLLECTIVES: &str = "\
# Collective test starting: all_gather_perf
# nThread 1 nGpus 8 minBytes 1024 maxBytes 2048 step: 2(factor) warmup iters: 5 iters: 20 agg iters: 1 validation: 1 graph: 0
#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong
        1024            32     float    none      -1    20.10    0.05    0.04      0    19.90    0.05    0.04      0
        2048            64     float    none      -1    20.50    0.10    0.09      0    20.40    0.10    0.09      0
# Collective test concluded: all_gather_perf
# Collective test starting: all_reduce_perf
# nThread 1 nGpus 8 minBytes 1024 maxBytes 4096 step: 2(factor) warmup iters: 5 iters: 20 agg iters: 1 validation: 0 graph: 0
#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong
        1024           256     float     sum      -1    22.00    0.05    0.08    N/A    21.00    0.05    0.09    N/A
        2048           512     float     sum      -1    22.5O    0.09    0.16    N/A    21.90    0.09    0.16    N/A
        4096          1024      half     sum      -1    23.00    0.18    0.31    N/A    22.00    0.19    0.33    N/A
Segmentation fault (core dumped)
";

#[test]
fn new_format_through_mpirun_with_noise() {
    let p = parse(Tool::NcclTests, "a.log", NEW_MPIRUN, &hints());
    assert!(p.unread.is_empty(), "{:?}", p.unread);
    assert_eq!(p.noise, 3);
    assert_eq!(p.rows.len(), 6);
    let last = &p.rows[4];
    assert_eq!(
        (last.bytes, last.inplace, last.ranks),
        (134217728, false, 4)
    );
    assert_eq!(
        (last.time_us, last.algbw, last.busbw),
        (1801.2, 74.51, 111.77)
    );
    assert_eq!(last.check, SourceCheck::Wrong(0.0));
    assert_eq!(last.hosts, vec!["gpu-a01", "gpu-a02"]);
    assert_eq!(last.devices, vec!["NVIDIA H100 80GB HBM3"]);
    assert!(p.rows[5].inplace);
    assert_eq!(p.rows[5].busbw, 111.91);
    let m = measurement(Tool::NcclTests, last, "4 ranks");
    assert!(m.is_valid());
    assert_eq!(m.method, "import/nccl-tests");
    assert_eq!(m.shape.display(), "bytes=134217728 ranks=4 inplace=false");
    assert_eq!(m.value(), Some(111.77));
    assert_eq!(m.collective.as_ref().unwrap().nodes, 2);
}

#[test]
fn old_format_with_error_column_and_labels() {
    let p = parse(Tool::NcclTests, "old.log", OLD_LABELLED, &hints());
    assert!(p.unread.is_empty(), "{:?}", p.unread);
    assert!(
        p.notes.is_empty(),
        "the echoed command names the collective: {:?}",
        p.notes
    );
    assert_eq!(p.rows.len(), 4);
    assert_eq!(p.rows[2].bytes, 4194304);
    assert_eq!(p.rows[2].ranks, 2);
    assert_eq!(
        p.rows[2].check,
        SourceCheck::MaxDeviation {
            value: 0.0,
            tolerance: 1e-5
        }
    );
    assert_eq!(p.rows[2].hosts, vec!["node01", "node02"]);
    assert_eq!(p.rows[2].origin, "old.log:12");
}

#[test]
fn other_collectives_unchecked_rows_and_bad_lines() {
    let p = parse(Tool::NcclTests, "two.log", TWO_COLLECTIVES, &hints());
    assert_eq!(p.other_collectives.len(), 1, "{:?}", p.other_collectives);
    assert!(p.other_collectives[0].contains("all_gather_perf"));
    assert!(p.other_collectives[0].starts_with("two.log:4–5"));
    // 1024 (f32) and 4096 (f16) read; the row with `22.5O` and the crash line reported.
    assert_eq!(p.rows.len(), 4);
    assert_eq!(p.rows[2].dtype, crate::bench::DType::F16);
    assert_eq!(p.rows[0].check, SourceCheck::NotChecked);
    assert_eq!(p.rows[0].ranks, 8, "nThread × nGpus when no device lines");
    let lines: Vec<usize> = p.unread.iter().map(|u| u.0).collect();
    assert_eq!(lines, vec![11, 13], "{:?}", p.unread);
    assert!(p.unread[0].1.contains("time is not a number"));
    // Unchecked: valid, but says so.
    let m = measurement(Tool::NcclTests, &p.rows[0], "8 GPUs");
    assert!(m.is_valid());
    assert_eq!(m.verification.checked, 0);
    assert!(m.verification.reference.starts_with("not checked"));
}

#[test]
fn wrong_elements_invalidate_the_row() {
    let log = NEW_MPIRUN.replace(
        "1801.2   74.51  111.77      0",
        "1801.2   74.51  111.77     12",
    );
    let p = parse(Tool::NcclTests, "w.log", &log, &hints());
    let row = p
        .rows
        .iter()
        .find(|r| r.check == SourceCheck::Wrong(12.0))
        .unwrap();
    let m = measurement(Tool::NcclTests, row, "4 ranks");
    assert!(!m.is_valid());
    assert!(m.error.as_deref().unwrap().contains("12 wrong elements"));
}

#[test]
fn per_iteration_columns() {
    let log = "\
# Collective test starting: all_reduce_perf
#       size         count      type   redop    root     time   algbw   busbw #wrong    i_min    i_max    i_p99    i_cv%     time   algbw   busbw #wrong    i_min    i_max    i_p99    i_cv%
     1048576        262144     float     sum      -1    112.4    9.33   14.00      0    110.0    118.0    117.5     1.20    110.9    9.45   14.18      0    109.0    115.0    114.0     1.10
";
    let p = parse(Tool::NcclTests, "it.log", log, &hints());
    assert!(p.unread.is_empty(), "{:?}", p.unread);
    assert_eq!(p.rows.len(), 2);
    assert_eq!((p.rows[1].busbw, p.rows[1].inplace), (14.18, true));
}

#[test]
fn nccl_tests_json() {
    let json = r#"{"version":2,"start_time":"2025-11-02 10:00:00","args":["./build/all_reduce_perf","-b","8","-e","1G","-J","out.json"],"env":[],"nccl_version":22703,
      "config":{"nthreads":1,"ngpus":8,"minimum_bytes":8,"maximum_bytes":1073741824,"step_factor":2,
        "devices":[{"rank":0,"group":0,"pid":1,"hostname":"p5-a","device":0,"device_hex":"0000:53:00","device_info":"NVIDIA H100 80GB HBM3"},
                   {"rank":1,"group":0,"pid":1,"hostname":"p5-a","device":1,"device_hex":"0000:64:00","device_info":"NVIDIA H100 80GB HBM3"}]},
      "results":[{"size":1073741824,"count":268435456,"type":"float","redop":"sum","root":"    -1",
                  "out_of_place":{"time":4701.5,"alg_bw":228.38,"bus_bw":399.66,"nwrong":0},
                  "in_place":{"time":4690.1,"alg_bw":228.94,"bus_bw":400.64,"nwrong":0},
                  "actual_iterations":20,"experiment_name":""}],
      "out_of_bounds":{"count":0,"okay":"true"}}"#;
    let p = parse(Tool::NcclTests, "r.json", json, &hints());
    assert!(p.unread.is_empty(), "{:?}", p.unread);
    assert_eq!(p.rows.len(), 2);
    assert_eq!((p.rows[0].ranks, p.rows[0].busbw), (2, 399.66));
    assert_eq!(p.rows[0].hosts, vec!["p5-a"]);
    // A run cut short leaves the JSON unclosed: reported, not a panic.
    let p = parse(Tool::NcclTests, "cut.json", &json[..200], &hints());
    assert!(p.rows.is_empty());
    assert!(p.unread[0].1.contains("not valid JSON"));
}

#[test]
fn rccl_tests_csv_and_json() {
    let csv = "\
collective,size,count,type,redop,root,oop_time,oop_algbw,oop_busbw,oop_#wrong,ip_time,ip_algbw,ip_busbw,ip_#wrong
all_reduce,1048576,262144,float,sum,-1,98.1,10.69,18.71,0,97.5,10.75,18.82,0
all_reduce,2097152,524288,float,sum,-1,150.2,13.96,24.43,0,149.9,13.99,24.48,0
all_gather,1048576,262144,float,none,-1,50.1,20.9,18.3,0,49.0,21.4,18.7,0
all_reduce,4194304,oops
";
    let p = parse(Tool::RcclTests, "r.csv", csv, &Hints { ranks: Some(8) });
    assert_eq!(p.rows.len(), 4, "{:?}", p.unread);
    assert_eq!(
        (p.rows[1].inplace, p.rows[1].busbw, p.rows[1].ranks),
        (true, 18.82, 8)
    );
    assert_eq!(p.other_collectives.len(), 1);
    assert_eq!(p.unread.len(), 1);
    assert_eq!(p.unread[0].0, 5);
    let json = r#"[{"name":"AllReduce","size":1048576,"type":"float","inPlace":0,"time":98.1,"algBw":10.69,"busBw":18.71,"wrong":0,"nRanks":8},
                  {"name":"AllReduce","size":1048576,"type":"float","inPlace":1,"time":97.5,"algBw":10.75,"busBw":18.82,"wrong":0,"nRanks":8}]"#;
    let p = parse(Tool::RcclTests, "r.json", json, &hints());
    assert!(p.unread.is_empty(), "{:?}", p.unread);
    assert_eq!(p.rows.len(), 2);
    assert!(p.rows[1].inplace && !p.rows[0].inplace);
    assert_eq!(p.rows[0].ranks, 8);
}

#[test]
fn osu_allreduce_tables() {
    let log = "\
# OSU MPI Allreduce Latency Test v7.2
# Datatype: MPI_FLOAT.
# Size       Avg Latency(us)   Min Latency(us)   Max Latency(us)  Iterations  Validation
4                       1.85              1.60              2.10        1000        Pass
1048576               470.00            460.00            480.00         100        Pass
8388608              3900.00           3850.00           3950.00          50        Fail
";
    let p = parse(Tool::Osu, "osu.log", log, &Hints { ranks: Some(4) });
    assert!(p.unread.is_empty(), "{:?}", p.unread);
    assert_eq!(p.rows.len(), 3);
    let r = &p.rows[1];
    assert_eq!(
        (r.bytes, r.time_us, r.check),
        (1048576, 470.0, SourceCheck::Wrong(0.0))
    );
    // algbw = bytes / time; busbw = algbw · 2(n−1)/n with n = 4.
    assert!((r.algbw - 1048576.0 / 470e-6 / 1e9).abs() < 1e-9);
    assert!((r.busbw - r.algbw * 1.5).abs() < 1e-9);
    assert_eq!(p.rows[2].check, SourceCheck::Wrong(1.0));
    // Without --ranks every row is reported, not guessed.
    let p = parse(Tool::Osu, "osu.log", log, &hints());
    assert!(p.rows.is_empty());
    assert_eq!(p.unread.len(), 3);
    assert!(p.unread[0].1.contains("--ranks"));
    // Another OSU test is passed over.
    let bw = "# OSU MPI Bandwidth Test v7.2\n# Size      Bandwidth (MB/s)\n1                       2.50\n";
    let p = parse(Tool::Osu, "bw.log", bw, &Hints { ranks: Some(2) });
    assert!(p.rows.is_empty());
    assert_eq!(p.other_collectives.len(), 1);
}

#[test]
fn launcher_prefixes() {
    assert_eq!(
        strip_launcher_prefix("[1,0]<stdout>:# nThread 1"),
        "# nThread 1"
    );
    assert_eq!(strip_launcher_prefix("[1,12]<stderr>: x"), "x");
    assert_eq!(strip_launcher_prefix("3: #  Rank  3"), "#  Rank  3");
    assert_eq!(strip_launcher_prefix("   8   2  float"), "   8   2  float");
    assert_eq!(
        strip_launcher_prefix("# Avg bus bandwidth    : 41.97"),
        "# Avg bus bandwidth    : 41.97"
    );
}

/// nccl-tests before 2.10: the `error` column is the largest absolute deviation, not a count. A
/// small deviation is a passed check; one above the type's bound fails.
#[test]
fn old_error_column_is_a_deviation_not_a_count() {
    let log = OLD_LABELLED
        .replace("2.57  0e+00   1630.8", "2.57  5e-07   1630.8")
        .replace(
            "2.57    2.57  0e+00\n0: # Out",
            "2.57    2.57  2e-03\n0: # Out",
        );
    let p = parse(Tool::NcclTests, "old.log", &log, &hints());
    assert!(p.unread.is_empty(), "{:?}", p.unread);
    let oop = p
        .rows
        .iter()
        .find(|r| r.bytes == 4194304 && !r.inplace)
        .unwrap();
    let m = measurement(Tool::NcclTests, oop, "2 ranks");
    assert!(m.is_valid(), "5e-07 is within f32's bound: {:?}", m.error);
    assert_eq!(m.verification.checked, m.verification.total);
    assert!(m.verification.reference.contains("deviation"));
    let ip = p
        .rows
        .iter()
        .find(|r| r.bytes == 4194304 && r.inplace)
        .unwrap();
    let m = measurement(Tool::NcclTests, ip, "2 ranks");
    assert!(!m.is_valid());
    assert!(
        m.error.as_deref().unwrap().contains("deviation of 2e-3"),
        "{:?}",
        m.error
    );
    // Half precision is held to 1e-2.
    let half = log.replace("float", "half");
    let p = parse(Tool::NcclTests, "old.log", &half, &hints());
    let ip = p
        .rows
        .iter()
        .find(|r| r.bytes == 4194304 && r.inplace)
        .unwrap();
    assert!(measurement(Tool::NcclTests, ip, "2 ranks").is_valid());
}

/// rccl-tests' `-Z csv` quotes its strings, and #wrong as `"0"`.
#[test]
fn rccl_csv_with_quoted_strings() {
    let csv = "\
\"collective\",\"size\",\"count\",\"type\",\"redop\",\"root\",\"oop_time\",\"oop_algbw\",\"oop_busbw\",\"oop_#wrong\",\"ip_time\",\"ip_algbw\",\"ip_busbw\",\"ip_#wrong\"
\"AllReduce\",1048576,262144,\"float\",\"sum\",-1,98.10,10.69,18.71,\"0\",97.50,10.75,18.82,\"0\"
\"AllReduce\",2097152,524288,\"float\",\"sum\",-1,150.2,13.96,24.43,\"3\",149.0,14.07,24.63,\"0\"
";
    let p = parse(Tool::RcclTests, "r.csv", csv, &Hints { ranks: Some(8) });
    assert!(p.unread.is_empty(), "{:?}", p.unread);
    assert_eq!(p.rows.len(), 4);
    assert_eq!(p.rows[0].dtype, crate::bench::DType::F32);
    assert_eq!(p.rows[0].check, SourceCheck::Wrong(0.0));
    assert_eq!(p.rows[2].check, SourceCheck::Wrong(3.0));
    assert!(measurement(Tool::RcclTests, &p.rows[0], "8 GPUs").is_valid());
    assert!(!measurement(Tool::RcclTests, &p.rows[2], "8 GPUs").is_valid());
}

/// An OSU log that shows its launch line gives the rank count; `--ranks` overrides it; of
/// several OSU tests only the all-reduce table is read.
#[test]
fn osu_ranks_from_the_launch_line_and_several_tests() {
    let log = "\
$ mpirun -np 2 ./osu_latency
# OSU MPI Latency Test v7.2
# Size          Latency (us)
0                       1.20
8                       1.22
$ srun -n 32 --cpu-bind=cores ./osu_allreduce -c
# OSU MPI Allreduce Latency Test v7.2
# Datatype: MPI_FLOAT.
# Size       Avg Latency(us)   Validation
4                       1.85         Pass
1048576               470.00         Pass
$ mpirun --np 4 osu_bw
# OSU MPI Bandwidth Test v7.2
# Size      Bandwidth (MB/s)
1                       2.50
";
    let p = parse(Tool::Osu, "osu.log", log, &hints());
    assert!(p.unread.is_empty(), "{:?}", p.unread);
    assert_eq!(p.rows.len(), 2, "only the all-reduce table");
    assert!(p.rows.iter().all(|r| r.ranks == 32));
    assert_eq!(p.other_collectives.len(), 2);
    let p = parse(Tool::Osu, "osu.log", log, &Hints { ranks: Some(16) });
    assert!(p.rows.iter().all(|r| r.ranks == 16));
    for (line, n) in [
        ("mpirun -np 32 ./osu_allreduce", Some(32)),
        ("mpiexec -n 8 osu_allreduce", Some(8)),
        ("srun --ntasks=16 osu_allreduce", Some(16)),
        ("srun --ntasks 64 osu_allreduce", Some(64)),
        ("/opt/ompi/bin/mpirun --np=4 a.out", Some(4)),
        ("# Size  Avg Latency(us)", None),
        ("srun -N 2 osu_allreduce", None),
    ] {
        assert_eq!(launch_ranks(line), n, "{line}");
    }
}

/// Unchecked sources are shown as such, never as verified.
#[test]
fn unchecked_sources_say_so() {
    let log = "\
# OSU MPI Allreduce Latency Test v7.2
# Size       Avg Latency(us)
1048576               470.00
";
    let p = parse(Tool::Osu, "osu.log", log, &Hints { ranks: Some(4) });
    let m = measurement(Tool::Osu, &p.rows[0], "4 ranks");
    assert_eq!(p.rows[0].check, SourceCheck::NotChecked);
    assert!(m.is_valid());
    assert!(!m.is_verified());
    assert!(
        m.verification
            .reference
            .starts_with("not checked by the source")
    );
}

/// A latency of 0 (infinite bandwidth) or an impossible rate is reported with its line, never
/// imported.
#[test]
fn impossible_figures_are_reported_not_imported() {
    let log = "\
# OSU MPI Allreduce Latency Test v7.2
# Size       Avg Latency(us)
4                       0.00
1048576               470.00
";
    let p = parse(Tool::Osu, "osu.log", log, &Hints { ranks: Some(4) });
    assert_eq!(p.rows.len(), 1);
    assert_eq!(p.unread.len(), 1);
    assert_eq!(p.unread[0].0, 3);
    assert!(p.unread[0].1.contains("timer resolution"), "{:?}", p.unread);
    let huge = NEW_MPIRUN.replace("1801.2   74.51  111.77", "1801.2   74.51  9e307");
    let p = parse(Tool::NcclTests, "n.log", &huge, &hints());
    assert!(
        p.unread.iter().any(|u| u.1.contains("not a possible rate")),
        "{:?}",
        p.unread
    );
}
