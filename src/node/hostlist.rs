//! Slurm's compressed host-list form (`nid[001-003,007],gpu12`), written the way
//! `scontrol show hostlist` writes it, so that a list of failing nodes goes straight into
//! `sbatch --exclude`, and read back the way `scontrol show hostnames` expands it.
//!
//! Only the last run of digits in a name is compressed (as Slurm does by default); a number keeps
//! its width, so `nid001`–`nid003` stay zero-padded and `n9,n10` is `n[9-10]`.

use std::collections::BTreeMap;

/// A host name split at its last run of digits: `nid` `001` ``.
struct Split<'a> {
    prefix: &'a str,
    digits: &'a str,
    suffix: &'a str,
}

fn split(host: &str) -> Option<Split<'_>> {
    let end = host.rfind(|c: char| c.is_ascii_digit())? + 1;
    let start = host[..end]
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    Some(Split {
        prefix: &host[..start],
        digits: &host[start..end],
        suffix: &host[end..],
    })
}

/// The hosts in compressed form: each prefix once, its numbers as sorted ranges, duplicates
/// dropped; names without digits as they are. Groups come in the order their first host came.
pub fn compress<S: AsRef<str>>(hosts: &[S]) -> String {
    // (prefix, suffix) → numbers as (value, text); plain names kept in order.
    let mut order: Vec<Option<(String, String)>> = Vec::new();
    let mut plain: Vec<String> = Vec::new();
    let mut groups: BTreeMap<(String, String), Vec<(u128, String)>> = BTreeMap::new();
    for h in hosts {
        let h = h.as_ref();
        match split(h).and_then(|s| s.digits.parse::<u128>().ok().map(|v| (s, v))) {
            Some((s, v)) => {
                let key = (s.prefix.to_string(), s.suffix.to_string());
                if !groups.contains_key(&key) {
                    order.push(Some(key.clone()));
                }
                groups
                    .entry(key)
                    .or_default()
                    .push((v, s.digits.to_string()));
            }
            None => {
                if !plain.iter().any(|p| p == h) {
                    plain.push(h.to_string());
                    order.push(None);
                }
            }
        }
    }
    let mut plain = plain.into_iter();
    let mut out = Vec::new();
    for key in order {
        let Some(key) = key else {
            out.extend(plain.next());
            continue;
        };
        let mut nums = groups.remove(&key).unwrap_or_default();
        nums.sort_by_key(|a| (a.0, a.1.len()));
        nums.dedup_by(|a, b| a.1 == b.1);
        let ranges = ranges(&nums);
        let (prefix, suffix) = key;
        if nums.len() == 1 {
            out.push(format!("{prefix}{}{suffix}", nums[0].1));
        } else {
            out.push(format!("{prefix}[{}]{suffix}", ranges.join(",")));
        }
    }
    out.join(",")
}

/// Consecutive numbers written at one width as `a-b`; the others alone.
fn ranges(nums: &[(u128, String)]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < nums.len() {
        let text = &nums[i].1;
        let width = text.len();
        let mut j = i;
        while j + 1 < nums.len()
            && nums[j + 1].0 == nums[j].0 + 1
            && format!("{:0width$}", nums[j + 1].0) == nums[j + 1].1
        {
            j += 1;
        }
        if j == i {
            out.push(text.clone());
        } else {
            out.push(format!("{text}-{}", nums[j].1));
        }
        i = j + 1;
    }
    out
}

/// Expands a compressed list (`nid[001-003,007],login1`) into host names; `None` when it is not
/// a host list (an unclosed bracket, a range that runs backwards, or one of more than a million
/// hosts).
pub fn expand(list: &str) -> Option<Vec<String>> {
    let mut hosts = Vec::new();
    for item in split_top(list)? {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let Some(open) = item.find('[') else {
            hosts.push(item.to_string());
            continue;
        };
        let close = item.find(']')?;
        if close < open || item[close + 1..].contains(['[', ']']) {
            return None;
        }
        let (prefix, body, suffix) = (&item[..open], &item[open + 1..close], &item[close + 1..]);
        for part in body.split(',') {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            let (lo, hi): (u128, u128) = (a.parse().ok()?, b.parse().ok()?);
            if hi < lo || hi - lo > 1_000_000 {
                return None;
            }
            let width = a.len();
            for v in lo..=hi {
                hosts.push(format!("{prefix}{v:0width$}{suffix}"));
            }
        }
    }
    Some(hosts)
}

/// The list's items, split at commas outside brackets.
fn split_top(list: &str) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in list.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        if !(0..=1).contains(&depth) {
            return None;
        }
    }
    if depth != 0 {
        return None;
    }
    out.push(&list[start..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_keep_leading_zeros() {
        let h = ["nid001", "nid002", "nid003", "nid007"];
        assert_eq!(compress(&h), "nid[001-003,007]");
        assert_eq!(expand("nid[001-003,007]").unwrap(), h);
    }

    #[test]
    fn several_prefixes_unsorted_input_and_duplicates() {
        let h = [
            "gpu12",
            "nid010",
            "gpu10",
            "nid009",
            "login",
            "gpu11",
            "nid010",
            "x1000c0s0b0n1",
            "x1000c0s0b0n0",
        ];
        assert_eq!(
            compress(&h),
            "gpu[10-12],nid[009-010],login,x1000c0s0b0n[0-1]"
        );
    }

    #[test]
    fn widths_that_differ_do_not_merge_wrongly() {
        // n9 and n10 are consecutive at their own widths; n09 is not n9.
        assert_eq!(compress(&["n9", "n10", "n11"]), "n[9-11]");
        assert_eq!(compress(&["n09", "n10"]), "n[09-10]");
        assert_eq!(compress(&["n9", "n09"]), "n[9,09]");
        assert_eq!(compress(&["n1"]), "n1");
        assert_eq!(compress::<&str>(&[]), "");
    }

    #[test]
    fn a_suffix_after_the_number_is_kept() {
        assert_eq!(compress(&["r1-ib", "r2-ib", "r4-ib"]), "r[1-2,4]-ib");
        assert_eq!(expand("r[1-2,4]-ib").unwrap(), ["r1-ib", "r2-ib", "r4-ib"]);
    }

    #[test]
    fn round_trip_and_bad_lists() {
        let hosts: Vec<String> = (0..1000)
            .filter(|i| i % 7 != 3)
            .map(|i| format!("nid{i:06}"))
            .collect();
        assert_eq!(expand(&compress(&hosts)).unwrap(), hosts);
        for bad in ["nid[1-", "nid[3-1]", "nid]1[", "a[1-2]b[3]", "n[x-2]"] {
            assert_eq!(expand(bad), None, "{bad}");
        }
    }
}
