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
