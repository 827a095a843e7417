//! Non-finite numbers in results files. JSON has no NaN or infinity, and serde_json writes them
//! as `null`, which it then refuses to read back as a number: a kernel that outputs NaN (its
//! error is NaN) or a time of 0 (an infinite rate) would make the very file that shows the
//! failure unreadable. Fields that can hold such values are written as a number when finite, else
//! as the strings `"NaN"`, `"inf"`, `"-inf"`; `null` (written by earlier builds) reads as NaN.
//!
//! Use with `#[serde(with = "crate::float")]` (or `crate::float::pair` for `[f64; 2]`).

use serde::{Deserialize, Deserializer, Serializer};

/// Writes `x`: a number when finite, else `"NaN"`, `"inf"` or `"-inf"`.
pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    if x.is_finite() {
        s.serialize_f64(*x)
    } else if x.is_nan() {
        s.serialize_str("NaN")
    } else if *x > 0.0 {
        s.serialize_str("inf")
    } else {
        s.serialize_str("-inf")
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Repr {
    Number(f64),
    Text(String),
}

/// Reads a number, one of the strings [`serialize`] writes, or `null` (NaN).
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    match Option::<Repr>::deserialize(d)? {
        None => Ok(f64::NAN),
        Some(Repr::Number(x)) => Ok(x),
        Some(Repr::Text(t)) => match t.as_str() {
            "NaN" | "nan" => Ok(f64::NAN),
            "inf" | "+inf" | "Infinity" => Ok(f64::INFINITY),
            "-inf" | "-Infinity" => Ok(f64::NEG_INFINITY),
            other => Err(serde::de::Error::custom(format!(
                "`{other}` is not a number (numbers, \"NaN\", \"inf\", \"-inf\")"
            ))),
        },
    }
}

/// The same for a pair, `[low, high]`.
pub mod pair {
    use serde::ser::SerializeTuple;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) struct Wrap(pub(super) f64);

    impl serde::Serialize for Wrap {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            super::serialize(&self.0, s)
        }
    }

    impl<'de> Deserialize<'de> for Wrap {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            super::deserialize(d).map(Wrap)
        }
    }

    /// Writes `[a, b]`.
    pub fn serialize<S: Serializer>(x: &[f64; 2], s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(&Wrap(x[0]))?;
        t.serialize_element(&Wrap(x[1]))?;
        t.end()
    }

    /// Reads `[a, b]`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[f64; 2], D::Error> {
        let [a, b] = <[Wrap; 2]>::deserialize(d)?;
        Ok([a.0, b.0])
    }
}

/// The same for a list.
pub mod list {
    use super::pair::Wrap;
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `[a, b, …]`.
    pub fn serialize<S: Serializer>(x: &[f64], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(x.len()))?;
        for v in x {
            seq.serialize_element(&Wrap(*v))?;
        }
        seq.end()
    }

    /// Reads `[a, b, …]`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Ok(Vec::<Wrap>::deserialize(d)?
            .into_iter()
            .map(|w| w.0)
            .collect())
    }
}

/// Formats `x` with `digits` significant digits, without scientific notation for ordinary values.
pub fn sig(x: f64, digits: usize) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let mag = x.abs().log10().floor() as i32;
    let decimals = (digits as i32 - 1 - mag).clamp(0, 12) as usize;
    format!("{x:.decimals$}")
}

#[cfg(test)]
mod tests {
    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct T {
        #[serde(with = "super")]
        x: f64,
        #[serde(with = "super::pair")]
        p: [f64; 2],
        #[serde(with = "super::list", default)]
        l: Vec<f64>,
    }

    #[test]
    fn non_finite_values_round_trip() {
        for x in [1.5, 0.0, -2.0, f64::INFINITY, f64::NEG_INFINITY, 1e308] {
            let t = T {
                x,
                p: [x, 1.0],
                l: vec![x, 2.0],
            };
            let back: T = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
            assert_eq!(back, t);
        }
        let nan = T {
            x: f64::NAN,
            p: [f64::NAN, 2.0],
            l: vec![f64::NAN],
        };
        let text = serde_json::to_string(&nan).unwrap();
        assert_eq!(text, r#"{"x":"NaN","p":["NaN",2.0],"l":["NaN"]}"#);
        let back: T = serde_json::from_str(&text).unwrap();
        assert!(back.x.is_nan() && back.p[0].is_nan() && back.p[1] == 2.0);
        assert!(back.l[0].is_nan());
        // What earlier builds wrote for NaN.
        let old: T = serde_json::from_str(r#"{"x":null,"p":[null,1]}"#).unwrap();
        assert!(old.x.is_nan() && old.p[0].is_nan());
        assert!(serde_json::from_str::<T>(r#"{"x":"fast","p":[1,2]}"#).is_err());
    }
}
