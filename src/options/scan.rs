//! `memlab scan NAME --param KEY=V1,V2,…`: the scanned parameter parsed, and every point
//! validated as a scenario run before any runs.

use super::scenario::scenario_request;
use super::{resolve_scenario, usage};
use crate::batch::Planned;
use crate::cli::{ScanArgs, ScenarioArgs};
use crate::error::MemlabError;
use crate::result::files::{SCANS_DIR, fraction_label, param_stem, result_path, size_label};
use crate::units::ByteSize;

/// The scanned parameter and its values.
#[derive(Debug, Clone, PartialEq)]
pub enum ScanParam {
    Children(Vec<usize>),
    Size(Vec<ByteSize>),
    ObjectSize(Vec<ByteSize>),
    Fraction(Vec<f64>),
}

/// Most points in one scan.
pub const MAX_POINTS: usize = 64;

impl ScanParam {
    /// The key as it appears in `--param` and in file names.
    pub fn key(&self) -> &'static str {
        match self {
            ScanParam::Children(_) => "children",
            ScanParam::Size(_) => "size",
            ScanParam::ObjectSize(_) => "object-size",
            ScanParam::Fraction(_) => "fraction",
        }
    }

    /// Each value as it appears in file names (sizes in the largest exact binary unit).
    pub fn labels(&self) -> Vec<String> {
        match self {
            ScanParam::Children(values) => values.iter().map(|v| v.to_string()).collect(),
            ScanParam::Size(values) | ScanParam::ObjectSize(values) => {
                values.iter().map(|v| size_label(v.0)).collect()
            }
            ScanParam::Fraction(values) => values.iter().map(|v| fraction_label(*v)).collect(),
        }
    }

    /// Parses `KEY=V1,V2,…` (children also `A..B`, inclusive).
    pub fn parse(text: &str) -> Result<ScanParam, MemlabError> {
        let Some((key, values)) = text.split_once('=') else {
            return Err(usage(format!(
                "--param takes KEY=V1,V2,… (e.g. children=1,2,4), got '{text}'"
            )));
        };
        let items: Vec<&str> = values.split(',').map(str::trim).collect();
        if items.iter().any(|v| v.is_empty()) {
            return Err(usage(format!(
                "--param {key}: an empty value in '{values}'"
            )));
        }
        let bad =
            |value: &str, what: &str| usage(format!("--param {key}: '{value}' is not {what}"));
        let param = match key.trim() {
            "children" => {
                let mut children = Vec::new();
                for item in &items {
                    if let Some((low, high)) = item.split_once("..") {
                        let low: usize =
                            low.trim().parse().map_err(|_| bad(item, "a range A..B"))?;
                        let high: usize =
                            high.trim().parse().map_err(|_| bad(item, "a range A..B"))?;
                        if low > high {
                            return Err(bad(item, "a range A..B with A <= B"));
                        }
                        if high - low >= MAX_POINTS {
                            return Err(usage(format!(
                                "--param {key}: {item} holds {} values, at most {MAX_POINTS}",
                                (high - low).saturating_add(1)
                            )));
                        }
                        children.extend(low..=high);
                    } else {
                        children.push(
                            item.parse()
                                .map_err(|_| bad(item, "a number of children"))?,
                        );
                    }
                }
                ScanParam::Children(children)
            }
            "size" | "object-size" | "object_size" => {
                let sizes = items
                    .iter()
                    .map(|item| {
                        item.parse::<ByteSize>()
                            .map_err(|e| usage(format!("--param {key}: {e}")))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if key.trim() == "size" {
                    ScanParam::Size(sizes)
                } else {
                    ScanParam::ObjectSize(sizes)
                }
            }
            "fraction" => ScanParam::Fraction(
                items
                    .iter()
                    .map(|item| {
                        item.parse::<f64>()
                            .ok()
                            .filter(|f| f.is_finite())
                            .ok_or_else(|| bad(item, "a fraction"))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            other => {
                return Err(usage(format!(
                    "--param: '{other}' cannot be scanned (children, size, object-size, fraction)"
                )));
            }
        };
        let labels = param.labels();
        if labels.len() > MAX_POINTS {
            return Err(usage(format!(
                "--param {key}: {} values, at most {MAX_POINTS}",
                labels.len()
            )));
        }
        for (i, label) in labels.iter().enumerate() {
            if labels[..i].contains(label) {
                return Err(usage(format!("--param {key}: {label} is listed twice")));
            }
        }
        Ok(param)
    }
}

/// The scenario arguments of the point `index`.
fn point(args: &ScanArgs, param: &ScanParam, index: usize) -> ScenarioArgs {
    let mut settings = args.settings.clone();
    settings.out = args.settings.out.join(SCANS_DIR);
    let mut point = ScenarioArgs::batch(&args.name, args.params.clone(), settings);
    let params = &mut point.params;
    match param {
        ScanParam::Children(values) => params.children = Some(values[index]),
        ScanParam::Size(values) => params.size = Some(values[index]),
        ScanParam::ObjectSize(values) => params.object_size = Some(values[index]),
        ScanParam::Fraction(values) => params.fraction = Some(values[index]),
    }
    point
}

/// Validates every point before any runs.
pub fn plan_scan(
    args: &ScanArgs,
    total_ram_bytes: u64,
) -> Result<(ScanParam, Vec<Planned>), MemlabError> {
    let def = resolve_scenario(&args.name)?;
    let param = ScanParam::parse(&args.param)?;
    let already = match param {
        ScanParam::Children(_) => args.params.children.is_some(),
        ScanParam::Size(_) => args.params.size.is_some(),
        ScanParam::ObjectSize(_) => args.params.object_size.is_some(),
        ScanParam::Fraction(_) => args.params.fraction.is_some(),
    };
    if already {
        return Err(usage(format!(
            "--param {key}=… scans {key}: drop --{key}",
            key = param.key()
        )));
    }
    let mut planned = Vec::new();
    for (index, label) in param.labels().into_iter().enumerate() {
        let point = point(args, &param, index);
        let request = scenario_request(&point, total_ram_bytes)
            .map_err(|e| usage(format!("{} = {label}: {e}", param.key())))?;
        let stem = param_stem(def.name, &[(param.key(), label)]);
        planned.push(Planned {
            path: result_path(&point.settings.out, &stem),
            stem,
            request,
        });
    }
    Ok((param, planned))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn parse_error(text: &str) -> String {
        match ScanParam::parse(text) {
            Err(MemlabError::Usage(message)) => message,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn parses_lists_ranges_and_sizes() {
        assert_eq!(
            ScanParam::parse("children=1..3,8").unwrap(),
            ScanParam::Children(vec![1, 2, 3, 8])
        );
        let sizes = ScanParam::parse("object-size=16,4KiB,1MiB").unwrap();
        assert_eq!(
            sizes,
            ScanParam::ObjectSize(vec![ByteSize(16), ByteSize(4096), ByteSize(1 << 20)])
        );
        assert_eq!(sizes.labels(), ["16", "4KiB", "1MiB"]);
        assert_eq!(
            ScanParam::parse("fraction=0,0.5,1").unwrap().labels(),
            ["0", "0.5", "1"]
        );
        assert_eq!(ScanParam::parse("size=64MiB").unwrap().key(), "size");
    }

    #[test]
    fn rejects_bad_params_with_one_line() {
        assert!(parse_error("children").contains("KEY=V1,V2"));
        assert!(parse_error("op=clone,read").contains("cannot be scanned"));
        assert!(parse_error("children=1,,2").contains("empty value"));
        assert!(parse_error("children=4..2").contains("A <= B"));
        assert!(parse_error("children=1..65").contains("65 values, at most 64"));
        assert!(parse_error("children=two").contains("not a number of children"));
        assert!(parse_error("size=12parsecs").contains("unknown size unit"));
        assert!(parse_error("size=1MiB,1024KiB").contains("listed twice"));
        assert!(parse_error("fraction=NaN").contains("not a fraction"));
    }

    fn scan(argv: &[&str]) -> Result<(ScanParam, Vec<Planned>), MemlabError> {
        use clap::Parser;
        let mut full = vec!["memlab", "scan"];
        full.extend_from_slice(argv);
        let crate::cli::Commands::Scan(args) =
            crate::cli::Cli::try_parse_from(full).unwrap().command
        else {
            panic!("not a scan")
        };
        plan_scan(&args, 24 << 30)
    }

    #[test]
    fn plans_one_file_per_point_under_scans() {
        let (_, planned) = scan(&[
            "refcount-objsize",
            "--param",
            "object-size=16,4KiB",
            "--size",
            "8MiB",
            "--out",
            "r",
        ])
        .unwrap();
        let paths: Vec<_> = planned.iter().map(|p| p.path.clone()).collect();
        assert_eq!(
            paths,
            [
                PathBuf::from("r/scans/refcount-objsize--object-size-16.json"),
                PathBuf::from("r/scans/refcount-objsize--object-size-4KiB.json"),
            ]
        );
        assert_eq!(
            planned[1].request.params.workload.object_size_bytes,
            Some(4096)
        );
        assert_eq!(planned[1].request.params.workload.size_bytes, 8 << 20);
    }

    #[test]
    fn every_point_is_validated_before_running() {
        let message = |argv: &[&str]| match scan(argv) {
            Err(MemlabError::Usage(message)) => message,
            other => panic!("{argv:?}: {:?}", other.map(|_| ())),
        };
        assert!(message(&["array-write", "--param", "fraction=0.5,2"]).contains("fraction = 2:"));
        assert!(message(&["array-read", "--param", "children=0,1"]).contains("between 1 and"));
        assert!(
            message(&["array-read", "--param", "fraction=0.5"]).contains("takes no --fraction")
        );
        assert!(
            message(&["array-read", "--param", "children=1,2", "--children", "3"])
                .contains("drop --children")
        );
        assert!(message(&["arry-read", "--param", "children=1"]).contains("did you mean"));
    }
}
