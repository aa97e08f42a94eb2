//! A claim's verdict and the unit of its measured value: enums in Rust, the JSON of schema
//! version 1 (`holds`: true, false or null; `unit`: "fraction", "pages", "x", …).

use serde::{Deserialize, Serialize};

/// Whether a claim holds. Stored as `holds: true | false | null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verdict {
    Holds,
    Broken,
    /// It could not be judged here (nothing measured, a missing dependency, a timing on a
    /// shared machine): the claim's note says why.
    #[default]
    NotJudged,
}

impl Verdict {
    /// `Some(true)` holds, `Some(false)` broken, `None` not judged.
    pub fn from_holds(holds: Option<bool>) -> Verdict {
        match holds {
            Some(true) => Verdict::Holds,
            Some(false) => Verdict::Broken,
            None => Verdict::NotJudged,
        }
    }

    pub fn holds(self) -> Option<bool> {
        match self {
            Verdict::Holds => Some(true),
            Verdict::Broken => Some(false),
            Verdict::NotJudged => None,
        }
    }

    pub fn is_broken(self) -> bool {
        self == Verdict::Broken
    }

    /// Both runs' verdicts: broken in any run is broken; judged in any run is judged.
    pub fn and(self, other: Verdict) -> Verdict {
        match (self, other) {
            (Verdict::Broken, _) | (_, Verdict::Broken) => Verdict::Broken,
            (Verdict::Holds, _) | (_, Verdict::Holds) => Verdict::Holds,
            _ => Verdict::NotJudged,
        }
    }
}

impl Serialize for Verdict {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.holds().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Verdict {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Option::<bool>::deserialize(deserializer).map(Verdict::from_holds)
    }
}

/// The unit of a claim's measured and expected values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClaimUnit {
    /// A share between 0 and 1 (shown as a percentage).
    #[serde(rename = "fraction")]
    Fraction,
    /// A number of pages (exact page truth).
    #[serde(rename = "pages")]
    Pages,
    /// A ratio (a speed-up, a slow-down).
    #[serde(rename = "x")]
    Ratio,
    /// Bytes copied per transparent huge page touched.
    #[serde(rename = "bytes per huge page")]
    BytesPerHugePage,
    /// How many copies of the data the tree holds.
    #[serde(rename = "copies of the data")]
    CopiesOfData,
    /// A number of tasks.
    #[serde(rename = "tasks")]
    Tasks,
    /// No value: the claim could not be measured.
    #[serde(rename = "")]
    None,
}

impl ClaimUnit {
    /// The unit as stored and written after a number: `fraction`, `pages`, `x`…
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimUnit::Fraction => "fraction",
            ClaimUnit::Pages => "pages",
            ClaimUnit::Ratio => "x",
            ClaimUnit::BytesPerHugePage => "bytes per huge page",
            ClaimUnit::CopiesOfData => "copies of the data",
            ClaimUnit::Tasks => "tasks",
            ClaimUnit::None => "",
        }
    }
}

impl std::fmt::Display for ClaimUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_keep_the_version_1_json() {
        for (verdict, json) in [
            (Verdict::Holds, "true"),
            (Verdict::Broken, "false"),
            (Verdict::NotJudged, "null"),
        ] {
            assert_eq!(serde_json::to_string(&verdict).unwrap(), json);
            assert_eq!(serde_json::from_str::<Verdict>(json).unwrap(), verdict);
        }
        for (unit, json) in [
            (ClaimUnit::Fraction, "\"fraction\""),
            (ClaimUnit::Pages, "\"pages\""),
            (ClaimUnit::Ratio, "\"x\""),
        ] {
            assert_eq!(serde_json::to_string(&unit).unwrap(), json);
        }
    }

    #[test]
    fn a_broken_run_breaks_the_claim_and_a_judged_run_judges_it() {
        use Verdict::*;
        assert_eq!(Holds.and(Broken), Broken);
        assert_eq!(NotJudged.and(Holds), Holds);
        assert_eq!(NotJudged.and(NotJudged), NotJudged);
        assert_eq!(Holds.and(Holds), Holds);
    }
}
