//! What differs between two results besides their figures: the machine they were measured on
//! and the parameters that give the figures their meaning.

use super::model::Difference;
use crate::result::ScenarioResult;

/// The parameters that change what the figures mean (not `repeat`, not the interpreter path).
pub(super) fn param_differences(b: &ScenarioResult, c: &ScenarioResult) -> Vec<Difference> {
    let mut found = Vec::new();
    let mut check = |what: &str, left: String, right: String| {
        if left != right {
            found.push(Difference {
                what: what.to_string(),
                baseline: left,
                current: right,
            });
        }
    };
    check("scenario", b.scenario.clone(), c.scenario.clone());
    for ((what, left), (_, right)) in param_fields(b).into_iter().zip(param_fields(c)) {
        check(what, left, right);
    }
    found
}

/// The machine fingerprint: what makes page counts and verdicts differ between machines.
pub fn machine_differences(b: &ScenarioResult, c: &ScenarioResult) -> Vec<Difference> {
    let mut found = Vec::new();
    let (mb, mc) = (&b.machine, &c.machine);
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let pairs = [
        ("kernel", mb.kernel.clone(), mc.kernel.clone()),
        (
            "page size",
            mb.page_size_bytes.to_string(),
            mc.page_size_bytes.to_string(),
        ),
        ("THP", opt(&mb.thp_enabled), opt(&mc.thp_enabled)),
        ("Python", opt(&mb.python_version), opt(&mc.python_version)),
        (
            "frame numbers",
            visible(mb.pfn_visible).into(),
            visible(mc.pfn_visible).into(),
        ),
    ];
    for (what, left, right) in pairs {
        if left != right {
            found.push(Difference {
                what: what.to_string(),
                baseline: left,
                current: right,
            });
        }
    }
    found
}

fn visible(pfn: bool) -> &'static str {
    if pfn {
        "visible (exact page truth)"
    } else {
        "hidden (approximate)"
    }
}

/// The parameters that make two results comparable, as text (`-` where a result has none:
/// a `memlab run` result, or an option the scenario does not take).
pub(super) fn param_fields(result: &ScenarioResult) -> [(&'static str, String); 6] {
    let params = result.params.as_ref().map(|p| &p.workload);
    let text = |value: Option<String>| value.unwrap_or_else(|| "-".into());
    [
        ("size", text(params.map(|p| p.size_bytes.to_string()))),
        ("children", text(params.map(|p| p.children.to_string()))),
        ("op", text(params.and_then(|p| p.op.clone()))),
        (
            "fraction",
            text(params.and_then(|p| p.fraction.map(|f| f.to_string()))),
        ),
        (
            "object size",
            text(params.and_then(|p| p.object_size_bytes.map(|s| s.to_string()))),
        ),
        ("scale", text(params.and_then(|p| p.scale.clone()))),
    ]
}

/// Runs per result (`--repeat`); one for a `memlab run` result.
pub(super) fn repeat(result: &ScenarioResult) -> usize {
    result.params.as_ref().map_or(1, |p| p.repeat)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::load::parse_result;

    fn array_write() -> ScenarioResult {
        parse_result(include_str!(
            "../../tests/fixtures/compare/baseline/array-write.json"
        ))
        .unwrap()
    }

    fn difference(what: &str, baseline: &str, current: &str) -> Difference {
        Difference {
            what: what.into(),
            baseline: baseline.into(),
            current: current.into(),
        }
    }

    #[test]
    fn the_same_result_differs_in_nothing() {
        let result = array_write();
        assert_eq!(machine_differences(&result, &result), []);
        assert_eq!(param_differences(&result, &result), []);
    }

    #[test]
    fn machine_differences_name_each_fingerprint_field_that_changed() {
        let baseline = array_write();
        let mut current = array_write();
        current.machine.kernel = "6.1.0".into();
        current.machine.pfn_visible = false;
        current.machine.thp_enabled = None;
        let thp = baseline.machine.thp_enabled.clone().unwrap();
        assert_eq!(
            machine_differences(&baseline, &current),
            [
                difference("kernel", &baseline.machine.kernel, "6.1.0"),
                difference("THP", &thp, "-"),
                difference(
                    "frame numbers",
                    "visible (exact page truth)",
                    "hidden (approximate)"
                ),
            ]
        );
    }

    #[test]
    fn param_differences_ignore_repeat_and_the_interpreter() {
        let baseline = array_write();
        let mut current = array_write();
        let params = current.params.as_mut().unwrap();
        params.repeat = 5;
        params.python = Some("/usr/bin/python3".into());
        assert_eq!(param_differences(&baseline, &current), []);
        assert_eq!((repeat(&baseline), repeat(&current)), (1, 5));

        let params = current.params.as_mut().unwrap();
        params.workload.children = 3;
        params.workload.op = Some("read".into());
        assert_eq!(
            param_differences(&baseline, &current),
            [
                difference("children", "2", "3"),
                difference("op", "-", "read")
            ]
        );
    }

    #[test]
    fn a_result_without_parameters_differs_in_every_one_the_other_has() {
        let baseline = array_write();
        let mut current = array_write();
        current.scenario = "run".into();
        current.params = None;
        assert_eq!(repeat(&current), 1);
        assert_eq!(
            param_differences(&baseline, &current),
            [
                difference("scenario", "array-write", "run"),
                difference("size", "16777216", "-"),
                difference("children", "2", "-"),
                difference("fraction", "0.25", "-"),
            ]
        );
    }
}
