//! `memlab scan NAME --param KEY=V1,V2,…`: one scenario run once per value of one numeric
//! parameter, each result written as `DIR/scans/NAME--KEY-VALUE.json` (the chart reads them).

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use crate::cli::{ScenarioArgs, resolve_scenario};
use crate::error::{MemlabError, exit_code};
use crate::result::RunStatus;
use crate::suite::{
    Outcome, Planned, default_scenario_args, fraction_label, param_stem, run_planned, size_label,
};
use crate::units::{ByteSize, format_bytes};

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Scenario name (see `memlab list`).
    pub name: String,
    /// The parameter and its values: children, size, object-size or fraction, e.g.
    /// `children=1,2,4,8`, `children=1..6`, `size=16MiB,64MiB`, `object-size=16,4KiB,1MiB`.
    #[arg(long, value_name = "KEY=V1,V2,…")]
    pub param: String,
    /// Size of the data set at every point (unless scanned).
    #[arg(long)]
    pub size: Option<ByteSize>,
    /// Children at every point (unless scanned).
    #[arg(long)]
    pub children: Option<usize>,
    /// The children's operation, for scenarios that have several.
    #[arg(long)]
    pub op: Option<String>,
    /// Fraction of the pages each child writes (array-write), unless scanned.
    #[arg(long)]
    pub fraction: Option<f64>,
    /// Size of each object (refcount-objsize), unless scanned.
    #[arg(long)]
    pub object_size: Option<ByteSize>,
    /// Python interpreter for Python scenarios.
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// Runs per point.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Directory for the results (written under DIR/scans/).
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    /// Longest silence allowed from the workload, in seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
}

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

fn usage(message: impl Into<String>) -> MemlabError {
    MemlabError::Usage(message.into())
}

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
                        if low > high || high - low >= MAX_POINTS {
                            return Err(bad(item, "a range A..B with A <= B"));
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

impl ScanArgs {
    /// The scenario arguments of the point `index`.
    fn point(&self, param: &ScanParam, index: usize) -> ScenarioArgs {
        let mut args = default_scenario_args(&self.name);
        args.size = self.size;
        args.children = self.children;
        args.op = self.op.clone();
        args.fraction = self.fraction;
        args.object_size = self.object_size;
        args.python = self.python.clone();
        args.repeat = self.repeat;
        args.json = true;
        args.out = self.out.join("scans");
        args.timeout = self.timeout;
        match param {
            ScanParam::Children(values) => args.children = Some(values[index]),
            ScanParam::Size(values) => args.size = Some(values[index]),
            ScanParam::ObjectSize(values) => args.object_size = Some(values[index]),
            ScanParam::Fraction(values) => args.fraction = Some(values[index]),
        }
        args
    }

    /// Validates every point before any runs.
    pub fn plan(&self, total_ram_bytes: u64) -> Result<(ScanParam, Vec<Planned>), MemlabError> {
        let def = resolve_scenario(&self.name)?;
        let param = ScanParam::parse(&self.param)?;
        let already = match param {
            ScanParam::Children(_) => self.children.is_some(),
            ScanParam::Size(_) => self.size.is_some(),
            ScanParam::ObjectSize(_) => self.object_size.is_some(),
            ScanParam::Fraction(_) => self.fraction.is_some(),
        };
        if already {
            return Err(usage(format!(
                "--param {key}=… scans {key}: drop --{key}",
                key = param.key()
            )));
        }
        let mut planned = Vec::new();
        for (index, label) in param.labels().into_iter().enumerate() {
            let args = self.point(&param, index);
            let request = args
                .to_request(total_ram_bytes)
                .map_err(|e| usage(format!("{} = {label}: {e}", param.key())))?;
            let stem = param_stem(def.name, &[(param.key(), label)]);
            planned.push(Planned {
                path: args.out.join(format!("{stem}.json")),
                stem,
                request,
            });
        }
        Ok((param, planned))
    }
}

pub fn run_scan(args: &ScanArgs) -> anyhow::Result<i32> {
    let (param, planned) = args.plan(crate::app::total_ram_bytes())?;
    let key = param.key();
    eprintln!(
        "scan {} over {key}: {} points → {}",
        args.name,
        planned.len(),
        args.out.join("scans").display()
    );
    let outcomes = run_planned(&planned, "scan")?;

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "scan {} over {key} (results in {})",
        args.name,
        args.out.join("scans").display()
    )?;
    writeln!(
        out,
        "{key:>12} {:>9} {:>13} {:>13}  verdict",
        "copied", "tree unique", "ΣRSS"
    )?;
    let mut broken = false;
    let mut failed = 0;
    for (label, outcome) in param.labels().iter().zip(&outcomes) {
        match outcome {
            Outcome::Done(result) if result.status == RunStatus::Skipped => {
                writeln!(
                    out,
                    "{label:>12} {:>9} {:>13} {:>13}  skipped",
                    "-", "-", "-"
                )?;
            }
            Outcome::Done(result) => {
                let failing: Vec<&str> = result
                    .claims
                    .iter()
                    .filter(|c| c.holds == Some(false))
                    .map(|c| c.id.as_str())
                    .collect();
                broken |= !failing.is_empty();
                let verdict = if !failing.is_empty() {
                    format!("BROKEN: {}", failing.join(", "))
                } else if result.claims.iter().any(|c| c.holds == Some(true)) {
                    "holds".to_string()
                } else {
                    "n/a".to_string()
                };
                writeln!(
                    out,
                    "{label:>12} {:>8.2}% {:>13} {:>13}  {verdict}",
                    result.summary.copied_fraction * 100.0,
                    result
                        .summary
                        .tree_unique_bytes
                        .map(format_bytes)
                        .unwrap_or_else(|| "-".into()),
                    format_bytes(result.summary.tree_rss_bytes)
                )?;
            }
            Outcome::Failed(message) => {
                failed += 1;
                writeln!(
                    out,
                    "{label:>12} {:>9} {:>13} {:>13}  ERROR {message}",
                    "-", "-", "-"
                )?;
            }
        }
    }
    if failed > 0 {
        return Err(anyhow::anyhow!(
            "{failed} of {} scan points failed",
            planned.len()
        ));
    }
    Ok(if broken {
        exit_code::CLAIM_BROKEN
    } else {
        exit_code::OK
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        args.plan(24 << 30)
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
        assert_eq!(planned[1].request.params.object_size_bytes, Some(4096));
        assert_eq!(planned[1].request.params.size_bytes, 8 << 20);
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
