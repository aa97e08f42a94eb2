//! What machine a result was measured on: enough to tell whether two results are comparable.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub hostname: Option<String>,
    pub kernel: String,
    pub os: Option<String>,
    pub cpu: String,
    pub cores: usize,
    pub ram_bytes: u64,
    pub swap_bytes: u64,
    pub page_size_bytes: u64,
    /// `/sys/kernel/mm/transparent_hugepage/enabled`, the selected value (always/madvise/never).
    pub thp_enabled: Option<String>,
    pub thp_defrag: Option<String>,
    /// `/sys/kernel/mm/ksm/run`: 0 stopped, 1 running, 2 unmerging.
    pub ksm_run: Option<u32>,
    /// Whether this run could read physical frame numbers (CAP_SYS_ADMIN).
    pub pfn_visible: bool,
    /// Python version, for Python scenarios.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_version: Option<String>,
}

/// Reads a `/sys` selector like `always [madvise] never` and returns the bracketed choice.
pub fn selected_choice(text: &str) -> Option<String> {
    let start = text.find('[')? + 1;
    let end = text[start..].find(']')? + start;
    Some(text[start..end].to_string())
}

fn read_sys(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

pub fn thp_enabled() -> Option<String> {
    read_sys("/sys/kernel/mm/transparent_hugepage/enabled").and_then(|t| selected_choice(&t))
}

pub fn describe_machine(pfn_visible: bool) -> Machine {
    use sysinfo::{CpuRefreshKind, RefreshKind, System};
    let system = System::new_with_specifics(
        RefreshKind::nothing()
            .with_cpu(CpuRefreshKind::nothing())
            .with_memory(sysinfo::MemoryRefreshKind::everything()),
    );
    let (cpu, ram, swap) = match &system {
        Ok(system) => (
            system
                .cpus()
                .first()
                .map(|c| c.brand().trim().to_string())
                .unwrap_or_default(),
            system.total_memory(),
            system.total_swap(),
        ),
        Err(_) => (String::new(), 0, 0),
    };
    Machine {
        hostname: System::host_name().ok(),
        kernel: System::kernel_version().unwrap_or_default(),
        os: System::long_os_version().ok(),
        cpu,
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        ram_bytes: ram,
        swap_bytes: swap,
        page_size_bytes: super::page_size_bytes(),
        thp_enabled: thp_enabled(),
        thp_defrag: read_sys("/sys/kernel/mm/transparent_hugepage/defrag")
            .and_then(|t| selected_choice(&t)),
        ksm_run: read_sys("/sys/kernel/mm/ksm/run").and_then(|t| t.parse().ok()),
        pfn_visible,
        python_version: None,
    }
}

/// Linux kernel version as (major, minor), from a string like `6.18.44-fc-v669`.
pub fn kernel_major_minor(kernel: &str) -> Option<(u32, u32)> {
    let mut parts = kernel.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_selected_choice() {
        assert_eq!(
            selected_choice("always [madvise] never"),
            Some("madvise".into())
        );
        assert_eq!(selected_choice("[always] defer"), Some("always".into()));
        assert_eq!(selected_choice("nothing"), None);
    }

    #[test]
    fn parses_kernel_versions() {
        assert_eq!(kernel_major_minor("6.18.44-fc-v669"), Some((6, 18)));
        assert_eq!(kernel_major_minor("5.8.0"), Some((5, 8)));
        assert_eq!(kernel_major_minor("garbage"), None);
    }

    #[test]
    fn describes_this_machine() {
        let machine = describe_machine(false);
        assert!(machine.cores >= 1);
        assert!(machine.ram_bytes > 0);
        assert_eq!(machine.page_size_bytes, 4096);
        assert!(!machine.kernel.is_empty());
    }
}
